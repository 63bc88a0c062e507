"""``features.channel: both`` end to end on a tiny two-channel DCASE 2026 tree: train, extract, score and evaluate
with the near and far microphones as the network's two input channels; a detector scores each clip as the run
did (PyTorch and ONNX); mono clips under ``both`` are one-line user errors in ``train`` and ``extract``."""

from __future__ import annotations

import csv
import dataclasses
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from soundsentry import stages
from soundsentry.cli import main
from soundsentry.data.audio import write_audio
from soundsentry.data.manifest import read_manifest, write_manifest
from soundsentry.deploy import Detector, export_detector
from soundsentry.runfiles import scores_file_name
from soundsentry.training.modelfile import read_model_file
from soundsentry.types import Split

RATE = 16000
BOTH = ["features.channel=both", "backbone.in_chans=2"]


def write_two_channel_tree(root: Path, seconds: float = 0.5) -> Path:
    """2 machine types x section 00 of two-channel clips (left: near microphone, right: far, quieter and noisier);
    6 source + 3 target training normals per type, 2 normal + 2 anomalous test clips per domain."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * RATE)) / RATE
    for type_index, machine in enumerate(("ToyDrone", "fan")):
        f0 = 200.0 * (type_index + 1)

        def clip(domain: str, anomaly: bool, f0: float = f0) -> np.ndarray:
            shift = 1.0 if domain == "source" else 1.15
            near = 0.3 * np.sin(2 * np.pi * f0 * shift * t + rng.uniform(0, 6.28)) + 0.02 * rng.standard_normal(t.size)
            if anomaly:
                near += 0.2 * np.sin(2 * np.pi * 3170.0 * t)
            far = 0.4 * near + 0.05 * rng.standard_normal(t.size)
            return (np.stack([near, far], axis=1) / np.max(np.abs(near)) * 0.5).astype(np.float32)

        for domain, n_train in (("source", 6), ("target", 3)):
            for i in range(n_train):
                name = f"section_00_{domain}_train_normal_{i:04d}_noAttribute.wav"
                write_audio(root / machine / "train" / name, clip(domain, False), RATE)
            for i in range(4):
                label = "anomaly" if i % 2 else "normal"
                name = f"section_00_{domain}_test_{label}_{i:04d}_noAttribute.wav"
                write_audio(root / machine / "test" / name, clip(domain, label == "anomaly"), RATE)
    return root


@pytest.fixture(scope="module")
def stereo_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_two_channel_tree(tmp_path_factory.mktemp("dcase2026") / "data")


RECIPES = {
    # a trained S1 network (tiny) with two input channels: one model over both types (two classes)
    "s1": ("s1_arcface_mfn_demo", ["train.mode=all", "train.epochs=1"]),
    # the flagship's patch bank: nothing trained, chunks of 2 x 512 mels x 5 frames
    "flagship": ("sentry_flagship", []),
}


@pytest.fixture(scope="module", params=sorted(RECIPES))
def both_run(
    request: pytest.FixtureRequest,
    stereo_tree: Path,
    tiny_overrides: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict]:
    recipe, extra = RECIPES[request.param]
    overrides = [*(tiny_overrides if request.param == "s1" else []), *extra, *BOTH]
    run_dir = tmp_path_factory.mktemp(f"both_{request.param}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = stages.run(recipe, stereo_tree, run_dir, overrides, layout="dcase2026")
    return run_dir, results


def test_run_trains_and_scores_on_both_channels(both_run: tuple[Path, dict]) -> None:
    run_dir, results = both_run
    model = read_model_file(next((run_dir / "models").glob("*/model.pt")))
    assert model["chunk_shape"][0] == 2  # near and far microphone as the network's two input channels
    with np.load(run_dir / "embeddings.npz") as emb:
        assert len(emb["paths"]) == 2 * (9 + 8)
    assert results and all(np.isfinite(r.overall.official_score) and r.n_scored == 16 for r in results.values())


def _run_scores(run_dir: Path, spec: str) -> dict[str, float]:
    with open(run_dir / "scores" / scores_file_name(spec), newline="") as f:
        return {row["path"]: float(row["anomaly_score"]) for row in csv.DictReader(f)}


def test_detector_scores_two_channel_files_as_the_run(both_run: tuple[Path, dict], tmp_path: Path) -> None:
    run_dir, _ = both_run
    detector = Detector(export_detector(run_dir, tmp_path / "detector"))
    assert detector.recipe.features.channel == "both"
    expected = _run_scores(run_dir, detector.scorer_spec)
    tests = [c for c in read_manifest(run_dir / "manifest.jsonl") if c.split is Split.TEST]
    results = detector.score_files([(c.path, c.machine_type, c.section) for c in tests])
    assert [r.error for r in results if r.error] == []
    np.testing.assert_allclose([r.score for r in results], [expected[c.path] for c in tests], rtol=1e-5, atol=1e-6)
    wave = detector.load_clip(tests[0].path)
    assert wave.shape == (2, int(0.5 * RATE))
    one = detector.score_waveform(wave, tests[0].machine_type, tests[0].section)
    assert one.score == pytest.approx(expected[tests[0].path], rel=1e-5, abs=1e-6)


def test_onnx_export_takes_two_input_channels(both_run: tuple[Path, dict], tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from soundsentry.deploy.onnx_export import export_onnx

    run_dir, _ = both_run
    bundle = export_detector(run_dir, tmp_path / "detector")
    (unit,) = export_onnx(bundle)
    assert unit.max_rel_diff <= 1e-4
    torch_detector, onnx_detector = Detector(bundle), Detector(bundle, backend="onnx")
    clip = next(c for c in read_manifest(run_dir / "manifest.jsonl") if c.split is Split.TEST)
    got = onnx_detector.score_file(clip.path, clip.machine_type, clip.section)
    assert got.score == pytest.approx(torch_detector.score_file(clip.path, clip.machine_type, clip.section).score, 1e-4)


def _mono_copy(path: str, out: Path) -> Path:
    import soundfile as sf

    samples, rate = sf.read(path, dtype="float32")
    write_audio(out, samples.mean(axis=1), rate)
    return out


def test_mono_clips_under_both_are_one_line_errors_in_train_and_extract(
    both_run: tuple[Path, dict], tmp_path: Path, tiny_overrides: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, _ = both_run
    clips = read_manifest(run_dir / "manifest.jsonl")
    first = next(i for i, c in enumerate(clips) if c.split is Split.TRAIN)
    mono = _mono_copy(clips[first].path, tmp_path / "mono.wav")
    swapped = [dataclasses.replace(c, path=str(mono)) if i == first else c for i, c in enumerate(clips)]
    manifest = write_manifest(swapped, tmp_path / "manifest.jsonl")
    sets = [arg for o in [*tiny_overrides, "train.mode=all", "train.epochs=1", *BOTH] for arg in ("--set", o)]
    code = main(["train", "s1_arcface_mfn_demo", *sets, "--manifest", str(manifest), "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.startswith(f"soundsentry train: error: {mono}: channel='both' needs a multi-channel file")

    copied = tmp_path / "copied_run"
    shutil.copytree(run_dir, copied)
    write_manifest(swapped, copied / "manifest.jsonl")
    assert main(["extract", str(copied)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"soundsentry extract: error: {mono}: channel='both' needs")
