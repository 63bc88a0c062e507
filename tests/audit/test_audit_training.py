"""Issue 15, items 8 and 9: Ctrl-C during training is "interrupted", exit 130, with a resumable checkpoint, and
``models/<unit>/logs/metrics.csv`` holds every epoch once after the resume."""

from __future__ import annotations

import csv
import os
import signal
from pathlib import Path

import pytest
import torch

from soundsentry.cli import main
from soundsentry.training.loop import keep_metrics_rows
from soundsentry.training.module import MarginClassifierModule


def _epochs_logged(metrics: Path) -> list[int]:
    """The epoch of every per-epoch training row (``train_loss_epoch``) of a metrics CSV, in file order."""
    with metrics.open(newline="") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f) if r.get("train_loss_epoch")]


def test_sigint_exits_130_and_resume_keeps_every_epoch_in_metrics_csv(
    tiny_manifest_file: Path, tiny_train_args: list[str], tmp_path: Path, monkeypatch, capsys
) -> None:
    run = tmp_path / "run"
    argv = ["train", "s1_arcface_mfn_demo", "--manifest", str(tiny_manifest_file), "--run-dir", str(run)]
    argv += [*tiny_train_args, "--set", "train.epochs=4"]
    step = MarginClassifierModule.training_step

    def sigint_in_third_epoch(self, batch, batch_idx):  # noqa: ANN001, ANN202 - the patched method's signature
        if self.current_epoch == 2:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, handled by Python's default handler
        return step(self, batch, batch_idx)

    monkeypatch.setattr(MarginClassifierModule, "training_step", sigint_in_third_epoch)
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "soundsentry train: interrupted" in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "Lightning's SIG_IGN was left in place"
    unit = run / "models" / "all"
    assert not (unit / "model.pt").exists()
    assert torch.load(unit / "last.ckpt", map_location="cpu", weights_only=False)["epoch"] == 1
    assert _epochs_logged(unit / "logs" / "metrics.csv") == [0, 1]

    monkeypatch.setattr(MarginClassifierModule, "training_step", step)
    assert main(argv) == 0
    assert (unit / "model.pt").is_file()
    assert _epochs_logged(unit / "logs" / "metrics.csv") == [0, 1, 2, 3]
    with (unit / "logs" / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    val_epochs = [int(r["epoch"]) for r in rows if r.get("val_loss")]
    assert val_epochs == [0, 1, 2, 3]


def test_keep_metrics_rows_drops_the_steps_a_resume_logs_again(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text(
        "step,epoch,train_loss_epoch,lr-SGD\n0,,,0.05\n8,0,1.5,\n9,,,0.04\n17,1,1.2,\n18,,,0.03\n26,2,1.1,\n"
    )
    assert keep_metrics_rows(path, 18) == ["epoch", "lr-SGD", "step", "train_loss_epoch"]
    with path.open(newline="") as f:
        assert [r["step"] for r in csv.DictReader(f)] == ["0", "8", "9", "17"]
    assert keep_metrics_rows(path, 0) == []
    assert not path.exists()


@pytest.mark.parametrize("content", ["", "step,epoch\n"])
def test_keep_metrics_rows_of_an_empty_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text(content)
    assert keep_metrics_rows(path, 5) == []
    assert not path.exists()


def test_a_damaged_last_checkpoint_is_one_line(
    tiny_manifest_file: Path, tiny_train_args: list[str], tmp_path: Path, capsys
) -> None:
    run = tmp_path / "run"
    last = run / "models" / "all" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"PK\x03\x04 the first bytes of a checkpoint, then nothing")
    argv = ["train", "s1_arcface_mfn_demo", "--manifest", str(tiny_manifest_file), "--run-dir", str(run)]
    assert main([*argv, *tiny_train_args, "--set", "train.epochs=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"{last} is damaged or incomplete" in err and "--no-resume" in err
