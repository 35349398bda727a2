"""Run folders: every command's folder has one layout, and every command resumes after
kill -9 (genad.experiment.RunFolder)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genad.errors import ConfigError
from genad.experiment import RunFolder

TINY = ["--quiet", "--image-size", "16", "--param", "width=8", "--batch-size", "16",
        "--epochs", "6"]
COMMANDS = {
    "train": ["train", "ae", "--cls", "3"],
    "disentangle": ["disentangle", "beta-vae", "--data", "digits", "--budget", "smoke"],
    "transfer": ["transfer"],
}


def _genad(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "genad", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _epochs(out: Path) -> list[int]:
    return [json.loads(ln)["epoch"] for ln in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_resumes_after_kill_and_leaves_one_layout(command, tmp_path) -> None:
    import os

    env = dict(os.environ, GENAD_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    out = tmp_path / "run"
    args = [*COMMANDS[command], "--out", str(out), *TINY]
    proc = _genad(args, env)
    deadline = time.time() + 120
    while not list(out.glob("checkpoint-*.json")) and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 1 <= len(_epochs(out)) < 6, "the kill came after training had finished"
    assert not (out / "result.json").exists()

    resumed = _genad([*args, "--resume"], env)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert _epochs(out) == [1, 2, 3, 4, 5, 6]  # earlier epochs kept, none repeated
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "metrics.jsonl", "model.json", "model.safetensors",
            "result.json"} <= names
    assert not [n for n in names if n.startswith("checkpoint-") or n.endswith(".tmp")]
    config = json.loads((out / "config.json").read_text())
    assert {"model", "params", "seed", "versions"} <= set(config)
    assert config["params"]["epochs"] == 6 and config["params"]["image_size"] == 16
    if command == "train":  # the resumed model is the one an uninterrupted run gives
        from safetensors.torch import load_file

        whole = tmp_path / "whole"
        done = _genad([*COMMANDS[command], "--out", str(whole), *TINY], env)
        assert done.wait(timeout=300) == 0
        a, b = (load_file(d / "model.safetensors") for d in (out, whole))
        assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)


def test_a_finished_run_is_refused_unless_overwritten(tmp_path) -> None:
    folder = RunFolder(tmp_path / "r")
    folder.write_config({"model": "ae", "params": {"epochs": 1}})
    mine = folder.path / "notes.txt"
    mine.write_text("the user's own file")
    folder.finish({"auroc": 0.5})
    with pytest.raises(ConfigError, match="finished run"):
        RunFolder(tmp_path / "r")
    RunFolder(tmp_path / "r", overwrite=True)
    assert not (tmp_path / "r" / "result.json").exists()
    assert mine.read_text() == "the user's own file"  # only genad's files are removed


def test_resume_with_other_settings_is_refused(tmp_path) -> None:
    RunFolder(tmp_path / "r").write_config({"model": "ae", "params": {"epochs": 3}})
    again = RunFolder(tmp_path / "r", resume=True)
    again.write_config({"model": "ae", "params": {"epochs": 3}})  # the same: fine
    with pytest.raises(ConfigError, match="params.epochs differ"):
        again.write_config({"model": "ae", "params": {"epochs": 4}})


def test_out_that_is_a_file_is_refused(tmp_path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        RunFolder(tmp_path / "f")


def test_a_folder_of_other_files_is_never_written_into(tmp_path) -> None:
    user = tmp_path / "thesis"
    user.mkdir()
    (user / "thesis.tex").write_text("years of work")
    (user / "report.md").write_text("mine")
    for kw in ({}, {"overwrite": True}, {"resume": True}):
        with pytest.raises(ConfigError, match="did not write"):
            RunFolder(user, **kw)
    assert (user / "thesis.tex").read_text() == "years of work"
    assert (user / "report.md").read_text() == "mine"
    RunFolder(tmp_path / "empty")  # a new or empty folder is fine
    (tmp_path / "empty2").mkdir()
    RunFolder(tmp_path / "empty2")


def test_overwrite_keeps_the_old_run_until_the_new_one_finishes(tmp_path) -> None:
    old = RunFolder(tmp_path / "r")
    old.write_config({"model": "ae", "params": {"epochs": 1}})
    old.write_text("report.md", "old report")
    old.finish({"auroc": 0.5})
    new = RunFolder(tmp_path / "r", overwrite=True)
    kept = tmp_path / "r" / RunFolder.PREVIOUS
    assert (kept / "result.json").is_file() and (kept / "report.md").read_text() == "old report"
    assert not new.finished  # the new run starts clean ...
    # ... and if it dies here, the old run is still in PREVIOUS; once it finishes, it goes
    new.write_config({"model": "ae", "params": {"epochs": 2}})
    new.finish({"auroc": 0.6})
    assert not kept.exists() and new.finished


def test_an_unfinished_run_is_resumed_or_overwritten_never_mixed(tmp_path) -> None:
    killed = RunFolder(tmp_path / "r")
    killed.write_config({"model": "ae", "params": {"epochs": 3}})
    (tmp_path / "r" / "metrics.jsonl").write_text('{"epoch": 1}\n')
    with pytest.raises(ConfigError, match="unfinished run"):
        RunFolder(tmp_path / "r")
    RunFolder(tmp_path / "r", resume=True)
    RunFolder(tmp_path / "r", overwrite=True)
    assert not (tmp_path / "r" / "metrics.jsonl").exists()  # moved aside, not appended to


def test_a_kill_during_finish_leaves_a_finished_run(tmp_path, monkeypatch) -> None:
    folder = RunFolder(tmp_path / "r")
    folder.write_config({"model": "ae", "params": {"epochs": 1}})
    (folder.path / "checkpoint-0001.json").write_text("{}")

    def killed(self, *a, **k):
        raise KeyboardInterrupt  # the process dies while removing the checkpoints

    monkeypatch.setattr(Path, "unlink", killed)
    with pytest.raises(KeyboardInterrupt):
        folder.finish({"auroc": 0.5})
    assert folder.finished  # result.json came first


def test_two_processes_never_write_one_run(tmp_path) -> None:
    out = tmp_path / "r"
    out.mkdir()
    (out / RunFolder.LOCK).write_text(str(os.getppid()))  # a live process writes here
    with pytest.raises(ConfigError, match="another genad process"):
        RunFolder(out)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (out / RunFolder.LOCK).write_text(str(gone.pid))  # its writer was killed: taken over
    folder = RunFolder(out)
    assert (out / RunFolder.LOCK).read_text() == str(os.getpid())
    folder.write_config({"model": "ae", "params": {"epochs": 1}})
    folder.finish({"auroc": 0.5})
    assert not (out / RunFolder.LOCK).exists()
