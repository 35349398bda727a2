"""genad.params: parameters from a YAML file, KEY=VALUE items and flags, in that order."""

from __future__ import annotations

import pytest

from genad.errors import ConfigError
from genad.params import parse_params, read_params_file, resolve


def test_later_sources_win_and_size_sets_the_network_size(tmp_path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 3\nlatent: 10\n")
    got = resolve(cfg, ["latent=20", "code-scales=[0, 1]"], {"epochs": 5, "lr": None}, size=16)
    assert got == {"epochs": 5, "latent": 20, "code_scales": [0, 1], "image_size": 16}
    assert "image_size" not in resolve(None, [], {}, size=28)  # 28 is not a network size
    assert resolve(None, ["image_size=64"], {}, size=16)["image_size"] == 64


@pytest.mark.parametrize("bad", ["no-equals", "x=[1, 2"])
def test_bad_items_are_one_line_errors(bad) -> None:
    with pytest.raises(ConfigError) as e:
        parse_params([bad])
    assert "\n" not in str(e.value)


def test_a_config_file_must_be_a_readable_mapping(tmp_path) -> None:
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        read_params_file(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        read_params_file(tmp_path / "missing.yaml")


def test_numbers_without_a_dot_are_numbers() -> None:
    # YAML 1.1 reads 1e-3 as a string; a user means the number
    assert parse_params(["lr=1e-3", "name=abc", "w=5", "x=nan"]) == {
        "lr": 1e-3, "name": "abc", "w": 5, "x": "nan"}


@pytest.mark.parametrize(("bad", "message"), [
    ({"latent": "abc"}, "latent must be an integer"),
    ({"batch_size": 1.5}, "batch_size must be an integer"),
    ({"width": True}, "width must be an integer"),
    ({"lr": "fast"}, "lr must be a number"),
    ({"epochs": None}, "epochs must be an integer"),
])
def test_values_of_the_wrong_kind_are_one_line_errors(bad, message) -> None:
    import genad

    with pytest.raises(ConfigError, match=message):
        genad.create("ganomaly", **bad)
    genad.create("ganomaly", lr=1)  # an integer is a number
