"""The Detector contract, checked on every registered model.

The contract tests run each model at the same tiny settings (`small_kwargs` in conftest:
16x16, width 8, one epoch), so a newly registered model is covered automatically as long as
its config accepts those names. That the models learn is checked in test_learning.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import genad
from genad.errors import ConfigError, DataError, NotFittedError, TrainingError
from genad.models.base import Detector

MODELS = genad.list_models()


@pytest.fixture(scope="module")
def fitted(small_settings, digits16) -> dict[str, Detector]:
    """One small fitted detector per registered model (shared: tests must not refit them)."""
    return {name: genad.create(name, **small_settings).fit(digits16) for name in MODELS}


def _has_map(det: Detector) -> bool:
    return type(det).pixel_map is not Detector.pixel_map


def _odd_images(n: int, channels: int, size: int, seed: int = 0) -> torch.Tensor:
    """Smooth random uint8 images of a size the networks do not run at."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, channels, 4, 4, generator=g)
    x = torch.nn.functional.interpolate(
        low, size=(size, size), mode="bilinear", align_corners=False
    )
    return (x * 255).round().to(torch.uint8)


@pytest.mark.parametrize("name", MODELS)
def test_fit_returns_self(name, small_kwargs, digits16) -> None:
    det = genad.create(name, **small_kwargs)
    assert det.fit(digits16[:20]) is det
    assert det.channels_ == 1 and det.input_size_ == (16, 16)
    assert len(det.history_) == small_kwargs["epochs"]


@pytest.mark.parametrize("name", MODELS)
def test_unfitted_detector_raises_not_fitted(name, small_kwargs, digits16, tmp_path: Path) -> None:
    det = genad.create(name, **small_kwargs)
    for call in (
        det.decision_function,
        det.predict,
        det.calibrated_score,
        det.anomaly_map,
        det.reconstruction,
    ):
        with pytest.raises(NotFittedError):
            call(digits16[:4])
    with pytest.raises(NotFittedError):
        det.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("name", MODELS)
def test_decision_function_shape_and_dtype(name, fitted, digits16) -> None:
    s = fitted[name].decision_function(digits16)
    assert isinstance(s, np.ndarray) and s.shape == (len(digits16),) and s.dtype == np.float64
    assert np.isfinite(s).all()
    assert np.ptp(s) > 0, "scores do not depend on the image"
    # an ImageSet, a numpy array and an (N, H, W) grey array are accepted as well
    images = genad.data.load("digits", size=16).subset(np.arange(64))
    np.testing.assert_array_equal(fitted[name].decision_function(images), s)
    np.testing.assert_array_equal(fitted[name].decision_function(digits16.numpy()), s)
    np.testing.assert_array_equal(fitted[name].decision_function(digits16[:, 0].numpy()), s)


@pytest.mark.parametrize("name", MODELS)
def test_scores_do_not_depend_on_batch_order_or_size(name, fitted, digits16) -> None:
    det = fitted[name]
    s = det.decision_function(digits16)
    perm = torch.randperm(len(digits16), generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(
        det.decision_function(digits16[perm]), s[perm.numpy()], rtol=0, atol=1e-5
    )
    np.testing.assert_allclose(det.decision_function(digits16[:5]), s[:5], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_predict_thresholds_the_scores(name, fitted, digits16) -> None:
    det = fitted[name]
    s, p = det.decision_function(digits16), det.predict(digits16)
    assert p.shape == s.shape and set(np.unique(p)) <= {0, 1}
    np.testing.assert_array_equal(p, (s > det.threshold_).astype(int))
    # the threshold is the 0.99 quantile of the held-out normal images' scores
    assert det.threshold_ == pytest.approx(np.quantile(det.calibration_scores_, 0.99))
    assert len(det.calibration_scores_) == round(len(digits16) * 0.1)


@pytest.mark.parametrize("name", MODELS)
def test_calibrated_score_is_a_monotone_share(name, fitted, digits16) -> None:
    det = fitted[name]
    s, c = det.decision_function(digits16), det.calibrated_score(digits16)
    assert c.shape == s.shape and np.all((c >= 0) & (c <= 1))
    order = np.argsort(s, kind="stable")
    assert np.all(np.diff(c[order]) >= 0), "calibrated scores must rank like the raw scores"
    cal = det.calibration_scores_
    expected = np.array([(cal < v).mean() for v in s])
    np.testing.assert_allclose(c, expected)


@pytest.mark.parametrize("name", MODELS)
def test_save_load_gives_identical_scores(name, fitted, digits16, tmp_path: Path) -> None:
    det = fitted[name]
    det.save(tmp_path / name)
    back = genad.load(str(tmp_path / name))
    assert type(back) is type(det) and back.config == det.config
    assert back.threshold_ == det.threshold_
    np.testing.assert_array_equal(back.calibration_scores_, det.calibration_scores_)
    np.testing.assert_allclose(
        back.decision_function(digits16), det.decision_function(digits16), rtol=0, atol=1e-6
    )
    np.testing.assert_array_equal(back.predict(digits16), det.predict(digits16))
    if _has_map(det):
        np.testing.assert_allclose(
            back.anomaly_map(digits16[:4]), det.anomaly_map(digits16[:4]), rtol=0, atol=1e-6
        )


@pytest.mark.parametrize("name", MODELS)
def test_wrong_channel_count_raises_data_error(name, fitted, digits16) -> None:
    rgb = digits16[:4].expand(-1, 3, -1, -1)
    for call in (fitted[name].decision_function, fitted[name].predict):
        with pytest.raises(DataError, match="channel"):
            call(rgb)


@pytest.mark.parametrize("name", MODELS)
def test_any_input_size_is_resized(name, small_kwargs) -> None:
    rgb28 = _odd_images(24, 3, 28)
    det = genad.create(name, **small_kwargs).fit(rgb28)
    assert det.channels_ == 3 and det.input_size_ == (28, 28)
    s = det.decision_function(rgb28[:6])
    assert s.shape == (6,) and np.isfinite(s).all()
    # other sizes at score time are resized too
    assert det.decision_function(_odd_images(3, 3, 20, seed=1)).shape == (3,)
    rec = det.reconstruction(rgb28[:2])
    if rec is not None:
        assert rec.shape == (2, 3, 16, 16)
    if _has_map(det):
        m = det.anomaly_map(rgb28[:6])
        assert m.shape == (6, 28, 28) and m.dtype == np.float32 and np.isfinite(m).all()
        assert det.anomaly_map(_odd_images(2, 3, 20)).shape == (2, 20, 20)
    else:
        with pytest.raises(ConfigError):
            det.anomaly_map(rgb28[:2])

    grey20 = _odd_images(20, 1, 20, seed=2)
    det = genad.create(name, **small_kwargs).fit(grey20)
    assert det.decision_function(grey20).shape == (20,)
    if _has_map(det):
        assert det.anomaly_map(grey20[:3]).shape == (3, 20, 20)


@pytest.mark.parametrize("name", MODELS)
def test_unknown_parameter_names_the_known_ones(name) -> None:
    with pytest.raises(ConfigError) as e:
        genad.create(name, image_size=16, epoch=3)
    msg = str(e.value)
    assert "epoch" in msg and "Known parameters" in msg
    for known in ("image_size", "epochs", "batch_size", "seed", "width"):
        assert known in msg


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(
    "bad",
    [
        {"image_size": 28},
        {"image_size": 4},
        {"epochs": 0},
        {"batch_size": 0},
        {"calib_fraction": 1.0},
        {"contamination": 0.7},
        {"seed": -1},
        {"seed": 2**70},
        {"lr": float("nan")},
        {"lr": -1.0},
    ],
)
def test_bad_config_values_raise_config_error(name, bad) -> None:
    with pytest.raises(ConfigError):
        genad.create(name, **bad)


@pytest.mark.parametrize("name", MODELS)
def test_fewer_than_ten_images_raise_data_error(name, small_kwargs, digits16) -> None:
    with pytest.raises(DataError, match="at least 10"):
        genad.create(name, **small_kwargs).fit(digits16[:9])


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_scores(name, small_kwargs, digits16) -> None:
    small_kwargs["epochs"] = 2
    a = genad.create(name, **small_kwargs).fit(digits16).decision_function(digits16)
    torch.manual_seed(123)  # the global RNG state before fit must not matter
    b = genad.create(name, **small_kwargs).fit(digits16).decision_function(digits16)
    np.testing.assert_array_equal(a, b)
    c = genad.create(name, **{**small_kwargs, "seed": 1}).fit(digits16).decision_function(digits16)
    assert not np.allclose(a, c), "the seed has no effect"


@pytest.mark.parametrize("name", MODELS)
def test_nan_loss_raises_training_error(name, small_kwargs, digits16, tmp_path: Path) -> None:
    # NaN inputs are refused before training (tests/data/test_user_images.py), so the NaN is
    # put into the batches the training step gets: every other image carries a NaN pixel
    det = genad.create(name, **small_kwargs)
    step = det.train_step

    def poisoned(x):
        x = x.clone()
        x[::2, :, 3, 3] = float("nan")
        return step(x)

    det.train_step = poisoned
    # 3 steps: fewer than the engine's log_every, so only the end-of-epoch check can catch it
    with pytest.raises(TrainingError, match="NaN"):
        det.fit(digits16, run_dir=tmp_path)
    assert not list(tmp_path.glob("checkpoint-*")), "a diverged epoch must not be checkpointed"


@pytest.mark.parametrize("name", MODELS)
def test_contamination_sets_the_threshold_quantile(name, small_kwargs, digits16) -> None:
    det = genad.create(name, contamination=0.2, **small_kwargs).fit(digits16)
    assert det.threshold_ == pytest.approx(np.quantile(det.calibration_scores_, 0.8))


@pytest.mark.parametrize("name", MODELS)
def test_repr_shows_changed_settings(name) -> None:
    r = repr(genad.create(name, epochs=3))
    assert "epochs=3" in r and "image_size" not in r


def test_uint8_images_at_the_network_size_stay_uint8_until_a_batch(tmp_path) -> None:
    """A large uint8 set (the whole dSprites grid) is held as uint8 through fit and scoring,
    not copied to float (four times the memory): the engine and evaluate_batches convert each
    batch. Images at another size are resized as float (no 8-bit rounding of the result)."""
    from genad.data.base import to_float

    x = torch.randint(0, 256, (40, 1, 16, 16), dtype=torch.uint8)
    det = genad.create("ae", image_size=16, epochs=1, batch_size=8, latent=4, width=8)
    seen: list[torch.dtype] = []
    step = det.train_step
    det.train_step = lambda b: seen.append(b.dtype) or step(b)
    det.fit(x)
    assert set(seen) == {torch.float32}
    assert det.prepared(x).dtype == torch.uint8 and det.prepared(x).data_ptr() == x.data_ptr()
    assert det.prepare(x).dtype == torch.float32
    cal, fit = det._calibration_split(x)
    assert cal.dtype == fit.dtype == torch.uint8
    np.testing.assert_array_equal(det.decision_function(x), det.decision_function(to_float(x)))
    big = torch.randint(0, 256, (4, 1, 32, 32), dtype=torch.uint8)
    assert det.prepared(big).dtype == torch.float32
