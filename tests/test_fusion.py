"""Fusion of several runs' scores files: per-group z-scores on training scores, then mean or min; the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from soundsentry.cli import main
from soundsentry.data.manifest import write_manifest
from soundsentry.errors import ConfigError, DataError
from soundsentry.evaluation import read_scores, write_scores
from soundsentry.fusion import fuse_scores
from soundsentry.types import Clip, Domain, Label, Split


def clips() -> list[Clip]:
    out = []
    for mt in ("fan", "pump"):
        out += [Clip(f"/d/{mt}/train_{i}.wav", mt, "00", Domain.SOURCE, Split.TRAIN, Label.NORMAL) for i in range(4)]
        out += [Clip(f"/d/{mt}/test_{i}.wav", mt, "00", Domain.TARGET, Split.TEST, Label.ANOMALY) for i in range(2)]
    return out


# Two runs; run B's fan scores are on a 10x larger scale and shifted.
A = {"fan": [1.0, 2.0, 3.0, 4.0, 2.5, 7.0], "pump": [0.0, 0.0, 1.0, 1.0, 0.5, 3.0]}
B = {"fan": [10.0, 30.0, 20.0, 40.0, 25.0, 10.0], "pump": [5.0, 6.0, 7.0, 8.0, 9.0, 6.5]}


def as_map(run: dict[str, list[float]]) -> dict[str, float]:
    return {c.path: v for c, v in zip(clips(), run["fan"] + run["pump"], strict=True)}


def z(values: list[float]) -> np.ndarray:
    v = np.array(values)
    return (v - v[:4].mean()) / v[:4].std()


def test_fuse_scores_mean_and_min_of_per_group_z_scores() -> None:
    za = np.r_[z(A["fan"]), z(A["pump"])]
    zb = np.r_[z(B["fan"]), z(B["pump"])]
    for method, expected in (("mean", (za + zb) / 2), ("min", np.minimum(za, zb))):
        kept, fused = fuse_scores([as_map(A), as_map(B)], clips(), method)
        assert kept == clips()
        np.testing.assert_allclose(fused, expected, atol=1e-12)
    # The fan test clip at 2.5 is normal for A (z = 0) and 25 for B (z = 0): fused 0 exactly.
    assert fuse_scores([as_map(A), as_map(B)], clips())[1][4] == pytest.approx(0.0, abs=1e-12)


def test_fuse_scores_errors() -> None:
    with pytest.raises(ConfigError, match="at least two scores files"):
        fuse_scores([as_map(A)], clips())
    with pytest.raises(ConfigError, match="method must be one of mean, min"):
        fuse_scores([as_map(A), as_map(B)], clips(), "max")
    no_test = {k: v for k, v in as_map(B).items() if "test_0" not in k}
    with pytest.raises(DataError, match=r"b.csv: 2 test clips have no score"):
        fuse_scores([as_map(A), no_test], clips(), names=["a.csv", "b.csv"])
    in_sample = {k: (0.0 if "train" in k else v) for k, v in as_map(B).items()}
    with pytest.raises(
        DataError, match=r"training-clip scores of fan section 00 are all equal \(0\); they are not out of fold"
    ):
        fuse_scores([as_map(A), in_sample], clips())
    one_train = {k: v for k, v in as_map(B).items() if "pump/train" not in k or k.endswith("train_0.wav")}
    with pytest.raises(DataError, match="pump section 00 has 1 training-clip scores but .* at least 2"):
        fuse_scores([as_map(A), one_train], clips())


def test_fuse_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = write_manifest(clips(), tmp_path / "manifest.jsonl")
    paths = []
    for name, run in (("a", A), ("b", B)):
        paths.append(write_scores(tmp_path / f"{name}.csv", clips(), run["fan"] + run["pump"]))
    out = tmp_path / "out" / "fused.csv"
    argv = ["fuse", *map(str, paths), "--manifest", str(manifest), "-o", str(out), "--method", "min"]
    assert main(argv) == 0
    assert "fused 2 scores files (min of z-scores) for 12 clips" in capsys.readouterr().out
    fused = read_scores(out)
    expected = np.minimum(np.r_[z(A["fan"]), z(A["pump"])], np.r_[z(B["fan"]), z(B["pump"])])
    np.testing.assert_allclose([fused[c.path] for c in clips()], expected, atol=1e-12)
    assert [p.name for p in out.parent.iterdir()] == ["fused.csv"]  # atomic: no temporary file left

    # A user mistake is one line and exit status 2; nothing is written.
    bad = tmp_path / "bad.csv"
    assert main(["fuse", str(paths[0]), str(tmp_path / "nope.csv"), "--manifest", str(manifest), "-o", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("soundsentry fuse: error:") and "nope.csv: scores file not found" in err
    assert err.count("\n") == 1 and not bad.exists()
