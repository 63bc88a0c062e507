"""The service's input-quality gate: every case of the bad-input corpus is refused with its problem, never scored."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402
from quality_corpus import CASES, RATE, Case, encode, noise  # noqa: E402

from soundsentry.deploy import Detector  # noqa: E402
from soundsentry.deploy.service import create_app  # noqa: E402


@pytest.fixture(scope="module")
def client(quality_detector: Detector) -> TestClient:
    return TestClient(create_app(quality_detector, max_seconds=10.0, timeout_s=60.0))


def _assert_refused(response, name: str, label: str, problem: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["quality"] == problem, body
    assert body["detail"].startswith(label) and "\n" not in body["detail"]
    assert tempfile.gettempdir() not in body["detail"]  # the temporary file's path is never shown
    (result,) = body["results"]
    assert result["name"] == name and result["decision"] == "error" and result["quality"] == problem
    assert result["anomaly_score"] is None and result["error"] == body["detail"]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_bad_recording_is_refused_with_its_problem(
    client: TestClient, quality_detector: Detector, good_clips: list[Path], case: Case
) -> None:
    data = case.make(round(quality_detector.min_seconds * RATE))
    good = ("files", ("ok.wav", good_clips[0].read_bytes()))
    if data:  # alone (an empty body is refused earlier, as "no clip in the request")
        response = client.post("/score", data={"machine_type": "fan"}, files=[("files", (case.name, data))])
        _assert_refused(response, case.name, case.name, case.problem)
    # next to a good clip: the batch is refused and the message names the bad one
    response = client.post("/score", data={"machine_type": "fan"}, files=[good, ("files", (case.name, data))])
    _assert_refused(response, case.name, f"clip 1 ({case.name})", case.problem)
    assert client.post("/score", data={"machine_type": "fan"}, files=[good]).status_code == 200  # still serving


def test_good_clips_of_every_format_are_scored_with_quality_ok(
    client: TestClient, quality_detector: Detector, good_clips: list[Path]
) -> None:
    uploads = [
        ("a.wav", good_clips[0].read_bytes()),
        ("b.flac", encode(noise(0.5), "FLAC")),
        ("c.ogg", encode(noise(0.5), "OGG")),
        ("d.mp3", encode(noise(0.5), "MP3")),
    ]
    response = client.post("/score", data={"machine_type": "fan"}, files=[("files", u) for u in uploads])
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["name"] for r in results] == [name for name, _ in uploads]
    assert all(r["decision"] in ("normal", "anomaly") and r["quality"] == "ok" for r in results)
    expected = quality_detector.score_file(good_clips[0], "fan", "00")
    assert results[0]["anomaly_score"] == pytest.approx(expected.score, rel=1e-6)
    raw = client.post(
        "/score", params={"machine_type": "fan"}, content=uploads[2][1], headers={"content-type": "audio/ogg"}
    )
    assert raw.status_code == 200 and raw.json()["results"][0]["quality"] == "ok"


def test_a_batch_names_every_refused_clip_and_scores_none(client: TestClient, good_clips: list[Path]) -> None:
    files = [
        ("files", ("good.wav", good_clips[0].read_bytes())),
        ("files", ("dead.wav", encode(noise(0.5) * 0))),
        ("files", ("phone.wav", encode(noise(0.5, 8000), rate=8000))),
    ]
    response = client.post("/score", data={"machine_type": "fan"}, files=files)
    assert response.status_code == 422
    body = response.json()
    assert body["detail"].startswith("clip 1 (dead.wav)") and body["quality"] == "silent"
    assert [(r["name"], r["quality"], r["decision"]) for r in body["results"]] == [
        ("dead.wav", "silent", "error"),
        ("phone.wav", "low_sample_rate", "error"),
    ]


def test_too_long_stays_413_with_its_quality(client: TestClient) -> None:
    response = client.post(
        "/score", params={"machine_type": "fan"}, content=encode(noise(11.0)), headers={"content-type": "audio/wav"}
    )
    assert response.status_code == 413
    assert response.json()["quality"] == "too_long" and "longer than the limit of 10 s" in response.json()["detail"]
