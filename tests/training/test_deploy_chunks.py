"""Detector bundles of chunk scorers (``chunks:...``) and of domain-generalisation scorers: a loaded detector
scores new clips as the run's chunk-level scoring does, its thresholds are the gamma fit of the out-of-fold
training scores, and the ONNX backend agrees with PyTorch."""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from soundsentry import stages
from soundsentry.chunk_scoring import score_chunk_clips
from soundsentry.data.manifest import read_manifest
from soundsentry.deploy import BundleError, Detector, export_detector
from soundsentry.evaluation.threshold import fit_gamma_threshold
from soundsentry.runfiles import load_chunk_embeddings
from soundsentry.scoring import is_fit_clip, score_clips
from soundsentry.types import Clip, Domain, Split

CHUNKS = "chunks:inner=knn_cosine;k=3,pool=max"
DG_CHUNKS = "chunks:inner=kmeans_knn;n_centres=16,pool=mean"
DG_CLIPS = "kmeans_knn:n_centres=2"


@pytest.fixture(scope="module")
def chunk_run(tiny_data: Path, tiny_overrides: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("chunk_run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # one model for all machine types: one network to export to ONNX keeps the test small
        stages.run("s1_arcface_mfn_demo", tiny_data, run_dir, [*tiny_overrides, "train.epochs=1", "train.mode=all"])
    return run_dir


@pytest.fixture(scope="module")
def chunk_bundle(chunk_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_detector(chunk_run, tmp_path_factory.mktemp("chunk_bundle") / "detector", scorer=CHUNKS)


def _clips(run_dir: Path) -> list[Clip]:
    return read_manifest(run_dir / "manifest.jsonl")


def _expected(run_dir: Path, spec: str, domain: Domain) -> tuple[list[Clip], np.ndarray]:
    """Every clip of the run and its chunk-level score as the score stage computes it (test clips by a scorer
    fitted on all training chunks of the group, training clips out of fold), all scored as ``domain`` clips."""
    clips = _clips(run_dir)
    chunks, chunk_clip = load_chunk_embeddings(run_dir, clips)
    return clips, score_chunk_clips(chunks.astype(np.float64), chunk_clip, clips, spec, domain=domain)


def _stage_scores(run_dir: Path, spec: str, clips: list[Clip]) -> np.ndarray:
    """The run's ``score`` stage's scores of ``clips`` for ``spec``."""
    (path,) = stages.score(run_dir, [spec])
    with open(path, newline="") as f:
        scores = {row["path"]: float(row["anomaly_score"]) for row in csv.DictReader(f)}
    return np.array([scores[c.path] for c in clips])


def _detector_scores(detector: Detector, clips: list[Clip]) -> np.ndarray:
    results = detector.score_files([(c.path, c.machine_type, c.section) for c in clips])
    assert [r.error for r in results if r.error] == []
    for r in results:
        assert r.decision == ("anomaly" if r.score > r.threshold else "normal")
    return np.array([r.score for r in results])


def _check_thresholds(detector: Detector, clips: list[Clip], train_scores: np.ndarray) -> None:
    """Each group's threshold for a clip of unknown domain is the gamma fit (90 %) of its source training clips'
    out-of-fold scores (its one target clip is too few for a fit of its own)."""
    for (mtype, section), info in detector.groups.items():
        idx = [i for i, c in enumerate(clips) if is_fit_clip(c) and c.group == (mtype, section)]
        source = [i for i in idx if clips[i].domain.value == "source"]
        assert info.n_train == len(idx)
        assert info.threshold == pytest.approx(fit_gamma_threshold(train_scores[source], 0.9), rel=1e-9)
        assert info.measured_false_alarm_rate == pytest.approx(np.mean(train_scores[idx] > info.threshold))


def test_a_chunk_detector_scores_test_clips_as_the_run(chunk_run: Path, chunk_bundle: Path) -> None:
    clips = _clips(chunk_run)
    expected = _stage_scores(chunk_run, CHUNKS, clips)
    detector = Detector(chunk_bundle)
    assert detector.uses_chunks and not detector.uses_logits
    tests = [i for i, c in enumerate(clips) if c.split is Split.TEST]
    got = _detector_scores(detector, [clips[i] for i in tests])
    np.testing.assert_allclose(got, expected[tests], rtol=1e-5, atol=1e-6)
    # pool=max: a clip's score is its worst chunk's, not the clip-mean embedding's
    clip_level = score_clips(stages.load_embeddings(chunk_run, clips).astype(np.float64), clips, "knn_cosine:k=3")
    assert not np.allclose(got, clip_level[tests], rtol=1e-3)
    # no domain-aware part: the stage's training scores are the out-of-fold scores the export fits on
    _check_thresholds(detector, clips, expected)
    np.testing.assert_allclose(expected, _expected(chunk_run, CHUNKS, Domain.UNKNOWN)[1], rtol=1e-12)


def test_a_chunk_bank_holds_the_training_chunks_with_their_domains(chunk_run: Path, chunk_bundle: Path) -> None:
    clips = _clips(chunk_run)
    fit = [c for c in clips if is_fit_clip(c)]
    chunks, owner = load_chunk_embeddings(chunk_run, fit)
    detector = Detector(chunk_bundle)
    info = detector.group("fan", "00")
    idx = np.array([i for i, c in enumerate(fit) if c.group == ("fan", "00")])
    with np.load(chunk_bundle / info.bank) as bank:
        assert "embeddings" not in bank
        rows = np.isin(owner, idx)
        np.testing.assert_array_equal(bank["chunk_embeddings"], chunks[rows])
        np.testing.assert_array_equal(bank["chunk_clip"], np.searchsorted(idx, owner[rows]))
        assert list(bank["chunk_domains"]) == [fit[i].domain.value for i in owner[rows]]
        assert list(bank["domains"]) == [fit[i].domain.value for i in idx]
        assert {"source", "target"} <= set(bank["chunk_domains"])
    assert detector._scorers[("fan", "00")].n_samples_fit_ == int(rows.sum())


def test_a_domain_generalisation_chunk_detector(chunk_run: Path, tmp_path: Path) -> None:
    """kmeans_knn on chunks: fitted with each chunk's domain, new clips scored as unknown-domain clips."""
    clips, expected = _expected(chunk_run, DG_CHUNKS, domain=Domain.UNKNOWN)
    detector = Detector(export_detector(chunk_run, tmp_path / "dg_chunks", scorer=DG_CHUNKS))
    tests = [i for i, c in enumerate(clips) if c.split is Split.TEST]
    np.testing.assert_allclose(
        _detector_scores(detector, [clips[i] for i in tests]), expected[tests], rtol=1e-5, atol=1e-6
    )
    _check_thresholds(detector, clips, expected)


def test_a_domain_generalisation_clip_detector_round_trips(chunk_run: Path, tmp_path: Path) -> None:
    clips = _clips(chunk_run)
    features = stages.load_embeddings(chunk_run, clips).astype(np.float64)
    expected = score_clips(features, clips, DG_CLIPS, domain=Domain.UNKNOWN)
    detector = Detector(export_detector(chunk_run, tmp_path / "dg_clips", scorer=DG_CLIPS))
    assert not detector.uses_chunks
    with np.load(detector.path / detector.group("valve", "01").bank) as bank:
        assert "chunk_embeddings" not in bank and bank["embeddings"].shape[0] == detector.group("valve", "01").n_train
    tests = [i for i, c in enumerate(clips) if c.split is Split.TEST]
    got = _detector_scores(detector, [clips[i] for i in tests])
    np.testing.assert_allclose(got, expected[tests], rtol=1e-5, atol=1e-6)
    _check_thresholds(detector, clips, expected)


@pytest.mark.slow  # the ONNX export and its verification take ~10 s
def test_the_onnx_backend_scores_chunks_as_torch(chunk_run: Path, chunk_bundle: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from soundsentry.deploy.onnx_export import export_onnx

    folder = tmp_path / "detector"
    shutil.copytree(chunk_bundle, folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx(folder)
    tests = [c for c in _clips(chunk_run) if c.split is Split.TEST][:8]
    onnx = Detector(folder, backend="onnx")
    assert onnx.uses_chunks
    np.testing.assert_allclose(
        _detector_scores(onnx, tests), _detector_scores(Detector(chunk_bundle), tests), rtol=1e-4, atol=1e-5
    )


def test_a_chunk_scorer_on_a_bank_without_chunks_is_refused(chunk_run: Path, tmp_path: Path) -> None:
    """A clip-level bank (every bundle written before chunk scorers) has no chunk arrays: it loads as before,
    and a chunk scorer named over it is refused with the fix."""
    folder = export_detector(chunk_run, tmp_path / "clip", scorer="knn_cosine:k=3")
    assert not Detector(folder).uses_chunks
    meta_path = folder / "detector.json"
    meta = json.loads(meta_path.read_text())
    meta["scorer"] = CHUNKS
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="no chunk_embeddings .* export the run again"):
        Detector(folder, verify=False)
