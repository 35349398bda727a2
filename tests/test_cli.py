"""The `genad` command end to end, on the bundled digits with tiny networks."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genad.cli import main

TINY = ["--image-size", "16", "--param", "width=8", "--epochs", "1", "--batch-size", "32"]


def run_cli(*args: str) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "ae3"
    assert (
        run_cli("train", "ae", "--data", "digits", "--cls", "3", "--out", out, "--quiet", *TINY)
        == 0
    )
    return out


def test_train_writes_a_complete_run_folder(trained_run: Path) -> None:
    for name in (
        "config.json",
        "metrics.jsonl",
        "model.safetensors",
        "model.json",
        "scores.csv",
        "result.json",
        "report.md",
        "roc.png",
        "hist.png",
        "recon.png",
    ):
        assert (trained_run / name).is_file(), name
    assert not list(trained_run.glob("checkpoint-*")), "checkpoints outlive a finished run"
    config = json.loads((trained_run / "config.json").read_text())
    assert config["params"]["image_size"] == 16 and config["versions"]["torch"]
    result = json.loads((trained_run / "result.json").read_text())
    assert 0.0 <= result["auroc"] <= 1.0
    with (trained_run / "scores.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == config["test_images"]


def test_train_refuses_to_overwrite_a_finished_run(trained_run: Path, capsys) -> None:
    code = run_cli("train", "ae", "--cls", "3", "--out", trained_run, "--quiet", *TINY)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("genad: error:") and "--overwrite" in err and "\n" not in err


def test_score_folder_to_csv_and_json_with_maps(trained_run: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):  # odd sizes and colour: converted to the model's grey input
        Image.fromarray(rng.integers(0, 255, (20 + i, 24, 3), dtype=np.uint8)).save(
            folder / f"{i}.png"
        )
    out_csv, out_json = tmp_path / "s.csv", tmp_path / "s.json"
    assert run_cli("score", trained_run, folder, "--out", out_csv, "--maps", tmp_path / "maps") == 0
    with out_csv.open() as f:
        rows = list(csv.DictReader(f))
    assert [Path(r["path"]).name for r in rows] == ["0.png", "1.png", "2.png"]
    assert all(0 <= float(r["calibrated"]) <= 1 and r["anomalous"] in "01" for r in rows)
    assert len(list((tmp_path / "maps").glob("*_map.png"))) == 3
    for i in range(3):  # each map at its file's own size (20 + i rows, 24 columns)
        assert Image.open(tmp_path / "maps" / f"{i}_map.png").size == (24, 20 + i)
    assert run_cli("score", trained_run, folder / "0.png", "--out", out_json) == 0
    data = json.loads(out_json.read_text())
    assert len(data["scores"]) == 1 and "threshold" in data


def test_score_reads_in_chunks_and_skips_unreadable_files(trained_run, tmp_path, capsys,
                                                           monkeypatch) -> None:
    """Scores do not depend on the chunk the files are read in, and no more than a chunk of
    images is ever read at once (memory bounded by the chunk, not the folder); a file that
    cannot be read is skipped with a one-line warning, the others are scored."""
    from genad import experiment
    from genad.data import folder as folder_module

    rng = np.random.default_rng(1)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(folder / f"{i}.png")
    (folder / "9.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    whole = experiment.score_files(trained_run, [str(folder)])
    read, sizes = folder_module.read_readable, []
    monkeypatch.setattr(folder_module, "read_readable",
                        lambda paths, *a: sizes.append(len(paths)) or read(paths, *a))
    pieces = experiment.score_files(trained_run, [str(folder)], chunk=2)
    assert sizes == [2, 2, 2]
    assert [r["path"] for r in whole["scores"]] == [str(folder / f"{i}.png") for i in range(5)]
    assert whole["scores"] == pieces["scores"]
    assert [s["path"] for s in whole["skipped"]] == [str(folder / "9.png")]
    assert run_cli("score", trained_run, folder, "--out", tmp_path / "s.csv") == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("genad: warning: skipped cannot read image") and "\n" not in err
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 6


def test_config_takes_a_runs_own_config_json_and_model_json(trained_run, tmp_path) -> None:
    """Issue: --config RUN/config.json crashed (create() got multiple values for 'model')."""
    for name in ("config.json", "model.json"):
        out = tmp_path / name
        assert run_cli("train", "ae", "--cls", "3", "--out", out, "--quiet", "--epochs", "1",
                       "--config", trained_run / name) == 0
        ran = json.loads((out / "config.json").read_text())["params"]
        was = json.loads((trained_run / "config.json").read_text())["params"]
        assert ran["width"] == was["width"] == 8 and ran["image_size"] == 16


@pytest.mark.skipif(sys.platform != "linux", reason="file names of any bytes: Linux")
def test_a_file_name_that_is_not_utf8_is_written_as_its_bytes(trained_run, tmp_path,
                                                              capfdbinary) -> None:
    import os

    folder = tmp_path / "imgs"
    folder.mkdir()
    raw = os.path.join(os.fsencode(folder), b"bad\xff.png")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(os.fsdecode(raw))
    assert run_cli("score", trained_run, folder, "--out", tmp_path / "s.csv") == 0
    assert raw in (tmp_path / "s.csv").read_bytes()
    assert run_cli("score", trained_run, folder) == 0
    assert raw in capfdbinary.readouterr().out


@pytest.mark.parametrize(
    "args, words",
    [
        (["score", "RUN", "CORRUPT"], "cannot read image"),
        (["score", "RUN", "/no/such/folder"], "does not exist"),
        (["score", "/no/such/run", "CORRUPT"], "holds no genad model"),
        (["train", "ae", "--data", "folder:/no/such/folder", "--out", "OUT"], "does not exist"),
        (["train", "no-such-model", "--out", "OUT"], "unknown model"),
        (["train", "ae", "--cls", "42", "--out", "OUT"], "unknown class"),
        (["train", "ae", "--cls", "3", "--out", "FILE/run"], "Not a directory"),
        (["train", "ae", "--cls", "3", "--param", "latent=-5", "--out", "OUT"],
         "latent must be at least 1"),
        (["train", "ae", "--cls", "3", "--param", "latent=1.5", "--out", "OUT"],
         "latent must be an integer"),
        (["train", "ae", "--cls", "3", "--param", "latent=[1,", "--out", "OUT"],
         "not a YAML value"),
        (["train", "ae", "--cls", "3", "--lr", "nan", "--out", "OUT"], "lr must be a finite"),
        (["bench", "ae", "--test-limit", "-5", "--out", "OUT"], "must be at least 1"),
        (["bench", "ae", "--seeds", "0", "--out", "OUT"], "must be at least 1"),
        (["score", "RUN", "CORRUPT", "--maps", "FILE"], "is a file"),
        (["train"], "arguments are required"),
        (["nonsense"], "invalid choice"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(args, words, trained_run, tmp_path, capsys) -> None:
    corrupt = tmp_path / "bad.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    (tmp_path / "file").write_text("a user's file")
    subs = {"RUN": str(trained_run), "CORRUPT": str(corrupt), "OUT": str(tmp_path / "o"),
            "FILE/run": str(tmp_path / "file" / "run"), "FILE": str(tmp_path / "file")}
    extra = TINY if args[0] == "train" and len(args) > 1 else []
    try:
        code = run_cli(*[subs.get(a, a) for a in args], *extra)
    except SystemExit as e:  # argparse's errors
        code = e.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("genad") and ": error: " in err and words in err and "\n" not in err
    assert "Traceback" not in err


def test_bench_writes_a_table_and_resumes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench"
    args = [
        "bench",
        "ae",
        "--data",
        "digits",
        "--classes",
        "1,3",
        "--seeds",
        "1",
        "--out",
        out,
        "--quiet",
        *TINY,
    ]
    assert run_cli(*args) == 0
    first = capsys.readouterr().out
    assert "| ae" in first
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert sorted(r["cls"] for r in rows) == ["1", "3"]
    assert (out / "bars.png").is_file() and (out / "report.md").is_file()
    assert "![ROC curves](roc.png)" in (out / "report.md").read_text()
    assert (out / "roc.png").is_file() and (out / "hist.png").is_file()
    mtime = (out / "ae" / "1" / "seed0" / "model.safetensors").stat().st_mtime
    assert run_cli(*args) == 0  # finished cells are read back, not retrained
    assert (out / "ae" / "1" / "seed0" / "model.safetensors").stat().st_mtime == mtime
    assert list(csv.DictReader((out / "results.csv").open())) == rows


def test_bench_over_several_data_sets_writes_a_folder_each_and_a_summary(
    tmp_path: Path, mvtec_widget: Path, capsys
) -> None:
    widget = mvtec_widget
    out = tmp_path / "bench"
    args = ["bench", "ae", "--data", "digits", "--data", f"mvtec:{widget}", "--classes", "3",
            "--seeds", "1", "--out", out, "--quiet", *TINY]
    assert run_cli(*args) == 0
    assert (out / "digits-leave-one-out" / "report.md").is_file()
    assert (out / "mvtec-mvtec" / "results.csv").is_file()
    summary = (out / "summary.md").read_text()
    assert "| model | digits leave-one-out | mvtec mvtec | fit_seconds |" in summary
    assert "## pixel AUROC" in summary and "summary:" in capsys.readouterr().out
    assert run_cli(*args[:4], "--data", "digits", *args[4:]) == 2  # digits twice: refused
    assert "benchmark them separately" in capsys.readouterr().err


def test_mvtec_data_alone_picks_the_mvtec_protocol(tmp_path: Path, mvtec_widget: Path) -> None:
    """Issue: `--data mvtec:P` without --protocol failed (leave-one-out wants a class)."""
    out = tmp_path / "run"
    assert run_cli("train", "ae", "--data", f"mvtec:{mvtec_widget}", "--out", out, *TINY,
                   "--quiet") == 0
    config = json.loads((out / "config.json").read_text())
    assert config["protocol"] == "mvtec"
    assert "pixel_auroc" in json.loads((out / "result.json").read_text())
    rows = list(csv.DictReader((out / "scores.csv").open()))  # a row per file, named
    assert all(Path(r["path"]).is_file() and "test" in Path(r["path"]).parts for r in rows)
    assert {r["class"] for r in rows} >= {"good"} and len({r["path"] for r in rows}) == len(rows)


def test_bench_limits_train_and_test_images(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench"
    args = ["bench", "ae", "--data", "digits", "--classes", "3", "--seeds", "1", "--out", out,
            "--quiet", "--train-limit", "200", "--test-limit", "50", *TINY]
    assert run_cli(*args) == 0
    cell = out / "ae" / "3" / "seed0"
    scores = list(csv.DictReader((cell / "scores.csv").open()))
    assert len(scores) == 50
    assert "test images limited to a seeded 50" in (out / "report.md").read_text()


@pytest.mark.parametrize(("flags", "image_size"), [
    (["--size", "16"], 16),  # a power of two: the networks run at the loaded size
    (["--size", "16", "--image-size", "32"], 32),  # an explicit network size wins
    (["--size", "16", "--param", "image_size=64"], 64),
    (["--size", "28"], None),  # not a power of two: the model's default, images resized to it
    ([], None),
])
def test_size_sets_the_network_size_unless_told_otherwise(flags, image_size) -> None:
    from genad.cli import _params, build_parser

    args = build_parser().parse_args(["bench", "ae", "--out", "x", *flags])
    assert _params(args).get("image_size") == image_size


def test_models_and_datasets_list(capsys) -> None:
    assert run_cli("models", "-v") == 0
    out = capsys.readouterr().out
    assert "ganomaly" in out and "w_con = 50.0" in out and "MISSING" not in out
    assert "    layers = []" in out  # a default_factory's value, not dataclasses' marker
    assert run_cli("models") == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(line.rstrip().endswith((".", ")", "`", "'")) for line in lines), lines
    assert any("(Chen et al. 2018) with alpha" in line for line in lines)  # not cut at "al."
    assert run_cli("datasets") == 0
    assert "mnist:PATH" in capsys.readouterr().out


def test_demo_runs_and_prints_auroc(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "genad", "demo", "--epochs", "1", "--quiet", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "AUROC" in proc.stdout and "ganomaly" in proc.stdout
    assert (tmp_path / "report.md").is_file() and (tmp_path / "ganomaly" / "model.json").is_file()
