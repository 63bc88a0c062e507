"""The HTTP scoring service: scores equal the detector's, every error code, batches, raw bodies, the token."""

from __future__ import annotations

import io
import socket
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import httpx  # noqa: E402
import soundfile as sf  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from soundsentry import stages  # noqa: E402
from soundsentry.cli import main  # noqa: E402
from soundsentry.deploy import Detector, export_detector  # noqa: E402
from soundsentry.deploy.service import create_app, parse_multipart, read_token_file  # noqa: E402
from soundsentry.errors import ConfigError  # noqa: E402

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def detector(tiny_data: Path, tiny_overrides: list[str], tmp_path_factory: pytest.TempPathFactory) -> Detector:
    run_dir = tmp_path_factory.mktemp("service_run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stages.run("s1_arcface_mfn_demo", tiny_data, run_dir, [*tiny_overrides, "train.epochs=1"])
    return Detector(export_detector(run_dir, tmp_path_factory.mktemp("service_bundle") / "detector"))


@pytest.fixture(scope="module")
def clips(tiny_data: Path) -> list[Path]:
    return sorted((tiny_data / "fan" / "test").glob("section_00_*.wav"))[:3]


@pytest.fixture(scope="module")
def client(detector: Detector) -> TestClient:
    return TestClient(create_app(detector, max_upload_bytes=200_000, max_seconds=2.0, timeout_s=30.0))


def _flac_bytes(path: Path) -> bytes:
    samples, rate = sf.read(path, dtype="float32")
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="FLAC")
    return buffer.getvalue()


def _wav_bytes(seconds: float, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, 0.1 * np.random.default_rng(0).standard_normal(int(seconds * rate)), rate, format="WAV")
    return buffer.getvalue()


def _nan_wav() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.full(8000, np.nan, dtype=np.float32), 16000, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


def test_health_and_info(client: TestClient, detector: Detector) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/info").json()
    assert info["scorer"] == detector.scorer_spec
    assert {(g["machine_type"], g["section"]) for g in info["groups"]} == set(detector.groups)


def test_multipart_batch_scores_each_file_in_order_as_the_detector_does(
    client: TestClient, detector: Detector, clips: list[Path]
) -> None:
    files = [("files", (p.name, p.read_bytes(), "audio/wav")) for p in reversed(clips)]
    response = client.post("/score", data={"machine_type": "fan", "section": "0"}, files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["machine_type"], body["section"]) == ("fan", "00")
    assert [r["name"] for r in body["results"]] == [p.name for p in reversed(clips)]
    for result, path in zip(body["results"], reversed(clips), strict=True):
        expected = detector.score_file(path, "fan", "00")
        assert result["anomaly_score"] == pytest.approx(expected.score, rel=1e-6)
        assert result["threshold"] == pytest.approx(expected.threshold)
        assert result["decision"] == expected.decision
        assert result["expected_false_alarm_rate"] == pytest.approx(0.1)


def test_raw_wav_and_flac_bodies_with_query_parameters(
    client: TestClient, detector: Detector, clips: list[Path]
) -> None:
    expected = detector.score_file(clips[0], "fan", "00").score
    for data, kind in ((clips[0].read_bytes(), "audio/wav"), (_flac_bytes(clips[0]), "audio/flac")):
        response = client.post(
            "/score",
            params={"machine_type": "fan", "section": "section_00"},
            content=data,
            headers={"content-type": kind},
        )
        assert response.status_code == 200, response.text
        (result,) = response.json()["results"]
        assert result["anomaly_score"] == pytest.approx(expected, rel=1e-5)  # FLAC is lossless for 16-bit PCM


@pytest.mark.parametrize(
    ("params", "content", "kind", "status", "match"),
    [
        ({"machine_type": "pump"}, "clip", "audio/wav", 404, "this detector knows"),
        ({"machine_type": "fan", "section": "07"}, "clip", "audio/wav", 404, "unknown machine"),
        ({"machine_type": "fan"}, b"RIFF this is not audio", "audio/wav", 422, "cannot be decoded"),
        ({"machine_type": "fan"}, b"", "audio/wav", 422, "no clip"),
        ({}, "clip", "audio/wav", 422, "machine_type is missing"),
        ({"machine_type": "fan"}, "clip", "text/plain", 415, "unsupported content type"),
        ({"machine_type": "fan"}, "long", "audio/wav", 413, "longer than the limit of 2 s"),
        ({"machine_type": "fan"}, "big", "audio/wav", 413, "over the limit of 200000"),
        ({"machine_type": "fan"}, "nan", "audio/wav", 422, "NaN or infinite"),
    ],
)
def test_error_codes_are_one_line_json_and_the_server_keeps_serving(
    client: TestClient, clips: list[Path], params: dict, content, kind: str, status: int, match: str
) -> None:
    data = {
        "clip": clips[0].read_bytes(),
        "long": _wav_bytes(3.0, 8000),  # 48 kB: under the upload limit, over the clip-length limit
        "big": _wav_bytes(7.0),  # 224 kB: over the upload limit
        "nan": _nan_wav(),
    }.get(content, content)
    response = client.post("/score", params=params, content=data, headers={"content-type": kind})
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert match in detail and "\n" not in detail
    assert tempfile.gettempdir() not in detail  # the temporary file's path is never shown
    assert (
        client.post(
            "/score",
            params={"machine_type": "fan"},
            content=clips[0].read_bytes(),
            headers={"content-type": "audio/wav"},
        ).status_code
        == 200
    )


def test_a_bad_clip_in_a_batch_is_named(client: TestClient, clips: list[Path]) -> None:
    files = [("files", ("good.wav", clips[0].read_bytes())), ("files", ("broken.wav", b"RIFF....WAVEjunk"))]
    response = client.post("/score", params={"machine_type": "fan"}, files=files)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("clip 1 (broken.wav)")


def test_token_is_required_when_configured(detector: Detector, clips: list[Path]) -> None:
    client = TestClient(create_app(detector, token=TOKEN))
    assert client.get("/health").status_code == 200  # probes need no token
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = client.get("/info", headers=headers)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        response = client.post(
            "/score",
            params={"machine_type": "fan"},
            content=clips[0].read_bytes(),
            headers={"content-type": "audio/wav", **headers},
        )
        assert response.status_code == 401
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/info", headers=good).status_code == 200
    response = client.post(
        "/score",
        params={"machine_type": "fan"},
        content=clips[0].read_bytes(),
        headers={"content-type": "audio/wav", **good},
    )
    assert response.status_code == 200


def test_timeout_answers_504_and_the_server_keeps_serving(
    detector: Detector, clips: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TestClient(create_app(detector, timeout_s=1.0))
    stuck, release = threading.Event(), threading.Event()
    original = detector.score_waveform

    def score_waveform(*args, **kwargs):
        if stuck.is_set():
            release.wait(10)  # a scoring job that hangs until the test lets it go
        return original(*args, **kwargs)

    monkeypatch.setattr(detector, "score_waveform", score_waveform)
    post = {
        "params": {"machine_type": "fan"},
        "content": clips[0].read_bytes(),
        "headers": {"content-type": "audio/wav"},
    }
    stuck.set()
    response = client.post("/score", **post)
    assert response.status_code == 504 and "longer than the limit of 1 s" in response.json()["detail"]
    stuck.clear()
    release.set()
    assert client.post("/score", **post).status_code == 200


def test_uploads_are_written_only_inside_a_temporary_directory_and_deleted(
    client: TestClient, clips: list[Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    response = client.post(
        "/score", params={"machine_type": "fan"}, content=clips[0].read_bytes(), headers={"content-type": "audio/wav"}
    )
    assert response.status_code == 200
    assert list(tmp_path.iterdir()) == []


def test_parse_multipart_keeps_fields_and_file_order() -> None:
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="machine_type"\r\n\r\nfan\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="../b.wav"\r\n\r\nBBB\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="a.wav"\r\n\r\nA\r\n--{boundary}--\r\n'
    ).encode()
    fields, uploads = parse_multipart(f"multipart/form-data; boundary={boundary}", body)
    assert fields == {"machine_type": "fan"}
    assert [(u.name, u.data) for u in uploads] == [("b.wav", b"BBB"), ("a.wav", b"A")]


def test_token_file_and_bad_options(detector: Detector, tmp_path: Path) -> None:
    (tmp_path / "token").write_text(f"  {TOKEN}\n")
    assert read_token_file(tmp_path / "token") == TOKEN
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="token file is empty"):
        read_token_file(tmp_path / "empty")
    with pytest.raises(ConfigError, match="cannot read the token file"):
        read_token_file(tmp_path / "missing")
    with pytest.raises(ConfigError, match="max_seconds must be positive"):
        create_app(detector, max_seconds=0)
    assert main(["serve", str(detector.path), "--token-file", str(tmp_path / "missing")]) == 2


def test_cli_serve_reads_the_token_file_and_limits(
    detector: Detector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from soundsentry.deploy import service

    calls = []
    monkeypatch.setattr(service, "serve", lambda det, **kwargs: calls.append((det, kwargs)))
    (tmp_path / "token").write_text(TOKEN + "\n")
    argv = ["serve", str(detector.path), "--port", "8123", "--token-file", str(tmp_path / "token")]
    assert main([*argv, "--max-upload-mb", "2", "--max-seconds", "5", "--timeout", "7"]) == 0
    ((det, kwargs),) = calls
    assert det.backend == "torch" and det.path == detector.path
    assert kwargs == {
        "host": "127.0.0.1",
        "port": 8123,
        "token": TOKEN,
        "max_upload_bytes": 2 * 1024 * 1024,
        "max_seconds": 5.0,
        "timeout_s": 7.0,
        "workers": 2,
    }
    assert main([*argv, "--timeout", "0"]) == 2
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # the serve extra not installed
    assert main(argv) == 2
    assert "pip install 'soundsentry[serve]'" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_load_50_concurrent_requests_on_a_real_uvicorn(detector: Detector, clips: list[Path]) -> None:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(detector, token=TOKEN), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        expected = {p.name: detector.score_file(p, "fan", "00").score for p in clips}
        url = f"http://127.0.0.1:{port}/score"

        def request(i: int) -> tuple[str, httpx.Response]:
            path = clips[i % len(clips)]
            response = httpx.post(
                url,
                params={"machine_type": "fan", "section": "00", "name": path.name},
                content=path.read_bytes(),
                headers={"content-type": "audio/wav", "Authorization": f"Bearer {TOKEN}"},
                timeout=60,
            )
            return path.name, response

        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(request, range(50)))
        assert len(answers) == 50
        for name, response in answers:
            assert response.status_code == 200, response.text
            (result,) = response.json()["results"]
            assert result["name"] == name
            assert result["anomaly_score"] == pytest.approx(expected[name], rel=1e-5)
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=20)
    assert not thread.is_alive(), "uvicorn did not shut down"
