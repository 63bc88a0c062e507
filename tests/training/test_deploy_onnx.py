"""ONNX export of a detector's embedding network: verified against PyTorch, checksums kept, the onnx backend."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import onnxruntime as ort  # noqa: E402

from soundsentry import stages  # noqa: E402
from soundsentry.cli import main  # noqa: E402
from soundsentry.deploy import BundleError, Detector, export_detector, read_bundle_meta  # noqa: E402
from soundsentry.deploy.onnx_export import export_onnx  # noqa: E402
from soundsentry.errors import ConfigError, DataError  # noqa: E402
from soundsentry.training.trainer import load_embedding_model  # noqa: E402


@pytest.fixture(scope="module")
def plain_bundle(tiny_data: Path, tiny_overrides: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("onnx_run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # one model for all machine types: one network to export keeps the test small
        stages.run("s1_arcface_mfn_demo", tiny_data, run_dir, [*tiny_overrides, "train.epochs=1", "train.mode=all"])
    return export_detector(run_dir, tmp_path_factory.mktemp("onnx_bundle") / "detector")


@pytest.fixture(scope="module")
def onnx_bundle(plain_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("onnx_copy") / "detector"
    shutil.copytree(plain_bundle, folder)
    assert main(["export-onnx", str(folder)]) == 0
    return folder


def test_export_adds_verified_files_and_keeps_checksums_right(onnx_bundle: Path) -> None:
    meta = read_bundle_meta(onnx_bundle)  # verifies every listed file's SHA-256
    assert sorted(meta["onnx"]) == sorted(meta["units"]) == ["all"]
    entry = meta["onnx"]["all"]
    assert entry["path"] == "onnx/all.onnx" and entry["path"] in meta["files"]
    assert entry["max_rel_diff"] <= 1e-4
    on_disk = {str(p.relative_to(onnx_bundle)) for p in onnx_bundle.rglob("*") if p.is_file()}
    assert sorted(meta["files"]) == sorted(on_disk - {"detector.json"})  # no staging leftovers


def test_onnx_network_matches_pytorch_for_any_batch_size(onnx_bundle: Path) -> None:
    model, info = load_embedding_model(onnx_bundle / "models" / "all.pt")
    session = ort.InferenceSession(str(onnx_bundle / "onnx" / "all.onnx"), providers=["CPUExecutionProvider"])
    standardizer = model.standardizer
    for n in (1, 3, 8):
        chunks = standardizer.mean + standardizer.std * torch.randn(n, *info["chunk_shape"])
        with torch.no_grad():
            expected = model(chunks).numpy()
        got = session.run(None, {"chunks": chunks.numpy()})[0]
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(expected).max())))


def test_onnx_backend_scores_as_the_torch_backend(onnx_bundle: Path, tiny_data: Path) -> None:
    files = sorted((tiny_data / "valve" / "test").glob("*.wav"))[:4]
    items = [(p, "valve", p.name.split("_")[1]) for p in files]
    torch_results = Detector(onnx_bundle).score_files(items)
    onnx_detector = Detector(onnx_bundle, backend="onnx")
    assert onnx_detector.info()["backend"] == "onnx" and not hasattr(onnx_detector, "_models")
    onnx_results = onnx_detector.score_files(items)
    assert all(r.decision != "error" for r in onnx_results)
    np.testing.assert_allclose([r.score for r in onnx_results], [r.score for r in torch_results], rtol=1e-4)


def test_onnx_backend_with_a_logits_scorer(plain_bundle: Path, tiny_data: Path, tmp_path: Path) -> None:
    """softmax_id: the network in ONNX, the classification head in PyTorch, the same scores as all-PyTorch."""
    run_dir = Path(read_bundle_meta(plain_bundle)["run"])
    folder = export_detector(run_dir, tmp_path / "softmax", scorer="softmax_id")
    assert main(["export-onnx", str(folder)]) == 0
    files = sorted((tiny_data / "fan" / "test").glob("*.wav"))[:4]
    items = [(p, "fan", p.name.split("_")[1]) for p in files]
    torch_results = Detector(folder).score_files(items)
    onnx_results = Detector(folder, backend="onnx").score_files(items)
    assert all(r.decision != "error" for r in onnx_results)
    np.testing.assert_allclose([r.score for r in onnx_results], [r.score for r in torch_results], rtol=1e-4, atol=1e-6)


def test_a_difference_above_the_tolerance_is_refused_and_the_bundle_left_unchanged(
    plain_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from soundsentry.deploy import onnx_export

    folder = tmp_path / "detector"
    shutil.copytree(plain_bundle, folder)
    before = (folder / "detector.json").read_text()
    # the real export is exercised by the fixture; here a stand-in graph whose output is off by 0.5 of 2.0
    monkeypatch.setattr(onnx_export, "_export_unit", lambda model, shape, out, opset: Path(out).write_bytes(b"x"))
    monkeypatch.setattr(onnx_export, "_verify", lambda model, shape, path: (0.5, 2.0))
    with pytest.raises(DataError, match=r"relative 0.25 .* above the tolerance 0.0001; the bundle is unchanged"):
        export_onnx(folder)
    assert (folder / "detector.json").read_text() == before
    assert sorted(p.name for p in folder.iterdir()) == ["banks", "detector.json", "models"]


def test_onnx_backend_needs_the_export_first(plain_bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="run `soundsentry export-onnx"):
        Detector(plain_bundle, backend="onnx")
    assert (
        main(["score-dir", str(plain_bundle), str(tmp_path), "-o", str(tmp_path / "r.csv"), "--backend", "onnx"]) == 2
    )


def test_onnx_backend_says_how_to_install_onnxruntime(onnx_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ConfigError, match=r"pip install 'soundsentry\[onnx\]' \(missing: onnxruntime\)"):
        Detector(onnx_bundle, backend="onnx")
    assert Detector(onnx_bundle).backend == "torch"  # the torch backend needs no ONNX package


def test_cli_score_dir_with_the_onnx_backend(onnx_bundle: Path, tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    assert main(["score-dir", str(onnx_bundle), str(tiny_data / "fan"), "-o", str(out), "--backend", "onnx"]) == 0
    assert "error" not in {line.split(",")[5] for line in out.read_text().splitlines()[1:]}
    assert json.loads((onnx_bundle / "detector.json").read_text())["onnx"]
