"""``soundsentry scenes synth`` and ``scenes run`` end to end on a tiny generated set (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soundsentry.cli import main


@pytest.mark.slow
def test_scenes_synth_and_four_stage_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    args = ["scenes", "synth", str(data), "--scenes", "2", "--clips", "3", "--seconds", "0.5", "--devices", "a,b"]
    assert main([*args, "--eval-only-devices", "b"]) == 0
    run = tmp_path / "run"
    settings = [
        "stages.0.epochs=1",
        "stages.1.epochs=1",
        "stages.2.epochs=1",
        "stages.3.epochs=1",
        "inference.tta_copies=2",
        "augment.wave=[volume]",
    ]
    overrides = [a for kv in settings for a in ("--set", kv)]
    cmd = ["scenes", "run", "s5_asc_mobilenetv2_arcface_demo", "--data", str(data), "--run-dir", str(run)]
    assert main([*cmd, *overrides]) == 0
    out = capsys.readouterr().out
    assert "stage 4 (retrain_top) epoch 1/1" in out and "model size" in out and "tta" in out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["submitted"] == "tta" and 0 < summary["size_bytes"] <= 131072
    assert set(summary["no_tta"]["per_device"]) == {"a", "b"}
    assert "-b.wav" not in (data / "evaluation_setup" / "fold1_train.csv").read_text()  # b is an unseen device
    for mode in ("no_tta", "tta"):
        assert 0 <= summary[mode]["accuracy"] <= 1 and summary[mode]["log_loss"] > 0
        assert (run / "report" / mode / "confusion.png").is_file()
    assert [s["kind"] for s in summary["stages"]] == ["focal", "arcface_head", "arcface_all", "retrain_top"]
    assert (run / "recipe.yaml").is_file() and (run / "model.pt").is_file()
    if (run / "model.onnx").exists():
        assert (run / "model.onnx").stat().st_size < 131072 + 20_000
    # rerun through the generic `soundsentry run` (it dispatches on the recipe's task): nothing is retrained
    assert main(["run", *cmd[2:], *overrides]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/1" not in out and "model size" in out
    # another recipe in the same folder is refused with one line
    assert main([*cmd, *overrides[:-2]]) == 2
    assert "holds a run of another recipe" in capsys.readouterr().err


def test_scenes_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenes", "run", "s5_asc_nope", "--data", str(tmp_path)]) == 2
    assert "packaged recipes:" in capsys.readouterr().err
    assert main(["scenes", "synth", str(tmp_path / "x"), "--devices", "a,zz"]) == 2
    assert "unknown device(s) ['zz']" in capsys.readouterr().err
