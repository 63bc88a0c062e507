"""``GET /metrics`` of the service: request, latency, decision and rejection counters, one registry per app."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("prometheus_client")

import soundfile as sf  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from soundsentry.deploy import Detector  # noqa: E402
from soundsentry.deploy.service import create_app  # noqa: E402

TOKEN = "metrics-token"


def _samples(client: TestClient, **kwargs) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _silent_wav() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(16000, dtype=np.float32), 16000, format="WAV")
    return buffer.getvalue()


@pytest.fixture
def clips(ops_data: Path) -> list[Path]:
    return sorted((ops_data / "fan" / "test").glob("section_00_*.wav"))[:2]


def _post(client: TestClient, data: bytes, **params: str):
    return client.post("/score", params=params, content=data, headers={"content-type": "audio/wav"})


def test_metrics_count_requests_latency_decisions_and_rejections(detector: Detector, clips: list[Path]) -> None:
    client = TestClient(create_app(detector))
    decisions = [_post(client, clip.read_bytes(), machine_type="fan", section="0") for clip in clips]
    assert [r.status_code for r in decisions] == [200, 200]
    assert _post(client, clips[0].read_bytes(), machine_type="pump").status_code == 404
    assert _post(client, _silent_wav(), machine_type="fan").status_code == 422
    assert client.get("/health").status_code == 200
    assert client.get("/no/such/page").status_code == 404

    samples = _samples(client)
    requests = "soundsentry_requests_total"
    assert _value(samples, requests, endpoint="/score", method="POST", status="200") == 2
    assert _value(samples, requests, endpoint="/score", method="POST", status="404") == 1
    assert _value(samples, requests, endpoint="/score", method="POST", status="422") == 1
    assert _value(samples, requests, endpoint="/health", method="GET", status="200") == 1
    assert _value(samples, requests, endpoint="other", method="GET", status="404") == 1  # no label per odd path
    assert _value(samples, "soundsentry_request_duration_seconds_count", endpoint="/score") == 4
    assert _value(samples, "soundsentry_request_duration_seconds_sum", endpoint="/score") > 0
    decided = [r.json()["results"][0]["decision"] for r in decisions]
    for decision in ("normal", "anomaly"):
        assert _value(
            samples, "soundsentry_decisions_total", machine_type="fan", section="00", decision=decision
        ) == decided.count(decision)
    assert _value(samples, "soundsentry_input_rejections_total", reason="silent") == 1
    assert sum(v for (name, _), v in samples.items() if name == "soundsentry_input_rejections_total") == 1

    # the scrape itself is counted from the next scrape on
    again = _samples(client)
    assert _value(again, requests, endpoint="/metrics", method="GET", status="200") == 1


def test_each_refused_clip_of_a_batch_counts_once_by_its_reason(detector: Detector, clips: list[Path]) -> None:
    client = TestClient(create_app(detector, max_seconds=2.0))
    long_clip = io.BytesIO()
    sf.write(long_clip, 0.1 * np.random.default_rng(0).standard_normal(3 * 16000), 16000, format="WAV")
    files = [
        ("files", ("good.wav", clips[0].read_bytes())),
        ("files", ("dead.wav", _silent_wav())),
        ("files", ("dead_too.wav", _silent_wav())),
    ]
    assert client.post("/score", params={"machine_type": "fan"}, files=files).status_code == 422
    assert _post(client, long_clip.getvalue(), machine_type="fan").status_code == 413
    samples = _samples(client)
    assert _value(samples, "soundsentry_input_rejections_total", reason="silent") == 2
    assert _value(samples, "soundsentry_input_rejections_total", reason="too_long") == 1
    assert _value(samples, "soundsentry_decisions_total", machine_type="fan", section="00", decision="normal") == 0
    assert _value(samples, "soundsentry_decisions_total", machine_type="fan", section="00", decision="anomaly") == 0


def test_each_app_has_its_own_registry(detector: Detector, clips: list[Path]) -> None:
    first, second = TestClient(create_app(detector)), TestClient(create_app(detector))
    assert _post(first, clips[0].read_bytes(), machine_type="fan").status_code == 200
    samples = _samples(second)
    assert _value(samples, "soundsentry_requests_total", endpoint="/score", method="POST", status="200") == 0
    assert _value(_samples(first), "soundsentry_requests_total", endpoint="/score", method="POST", status="200") == 1


def test_metrics_need_the_token_when_one_is_configured(detector: Detector) -> None:
    client = TestClient(create_app(detector, token=TOKEN))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    samples = _samples(client, headers={"Authorization": f"Bearer {TOKEN}"})
    assert _value(samples, "soundsentry_requests_total", endpoint="/metrics", method="GET", status="401") == 2
