"""Thresholds per domain: the rule (against an independent computation), detector.json's per-domain thresholds and
measured false-alarm rates, score-dir's choice of threshold by domain, old bundles, and the report's table."""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from soundsentry.cli import main
from soundsentry.deploy import Detector
from soundsentry.deploy.thresholds import RULE, group_thresholds

pytestmark = pytest.mark.slow


def test_the_domain_unknown_threshold_is_the_largest_per_domain_one() -> None:
    rng = np.random.default_rng(0)
    source, target = rng.uniform(0.0, 1.0, 200), rng.uniform(5.0, 6.0, 20)
    scores = np.concatenate([source, target, [100.0]])
    domains = ["source"] * 200 + ["target"] * 20 + ["unknown"]
    limits = group_thresholds(scores, domains, "quantile", 0.9)
    assert limits.domains["source"]["threshold"] == pytest.approx(np.quantile(source, 0.9))
    assert limits.domains["target"]["threshold"] == pytest.approx(np.quantile(target, 0.9))
    assert limits.threshold == pytest.approx(np.quantile(target, 0.9))  # the target's, the larger
    assert set(limits.domains) == {"source", "target"}  # "unknown" clips only count towards the pooled one
    assert limits.domains["target"]["measured_false_alarm_rate"] == pytest.approx(np.mean(target > limits.threshold))
    assert limits.domains["source"]["measured_false_alarm_rate_domain_unknown"] == 0.0
    assert limits.measured_false_alarm_rate == pytest.approx(np.mean(scores > limits.threshold))
    # one threshold over all clips would flag most target normals, the failure this rule prevents
    pooled = np.quantile(scores, 0.9)
    assert np.mean(target > pooled) > 0.5 >= np.mean(target > limits.threshold)


def test_a_domain_with_few_clips_raises_the_domain_unknown_threshold_but_does_not_decide_alone() -> None:
    source = np.linspace(0.1, 1.2, 12)
    few = np.array([0.5, 0.6, 0.7, 3.0])  # 4 target clips: an estimate (>= 3), not trusted alone (< 10)
    limits = group_thresholds(np.concatenate([source, few]), ["source"] * 12 + ["target"] * 4, "quantile", 0.8)
    estimate = np.quantile(few, 0.8)
    assert limits.threshold == pytest.approx(max(estimate, np.quantile(source, 0.8)))
    assert limits.domains["source"]["own"] and limits.domains["source"]["threshold"] == np.quantile(source, 0.8)
    assert limits.domains["target"] == pytest.approx(
        {
            "threshold": limits.threshold,
            "own": False,
            "estimate": estimate,
            "n": 4,
            "measured_false_alarm_rate": 0.25,
            "measured_false_alarm_rate_domain_unknown": 0.25,
        }
    )
    # two target clips: no estimate, the source's sets the domain-unknown threshold
    two = group_thresholds(np.concatenate([source, [9.0, 9.5]]), ["source"] * 12 + ["target"] * 2, "quantile", 0.8)
    assert two.threshold == pytest.approx(np.quantile(source, 0.8)) and two.domains["target"]["estimate"] is None
    # no domain with an estimate: the threshold of all the clips
    alone = group_thresholds(np.array([0.1, 0.2, 9.0, 9.5]), ["source"] * 2 + ["target"] * 2, "quantile", 0.8)
    assert alone.threshold == pytest.approx(np.quantile([0.1, 0.2, 9.0, 9.5], 0.8))
    assert not alone.domains["source"]["own"] and not alone.domains["target"]["own"]


def _cli(*args: object) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return main([str(a) for a in args])


@pytest.fixture(scope="module")
def detector(two_domains: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("domains") / "detector"
    args = ("fit", two_domains, "-o", out, "--false-alarm-rate", "0.1", "--threshold", "quantile", "--holdout", "0.7")
    assert _cli(*args) == 0  # 21 source and 10 target clips held out: both domains' thresholds decide alone
    return out


def test_detector_json_has_a_threshold_and_measured_false_alarm_rate_per_domain(detector: Path) -> None:
    meta = json.loads((detector / "detector.json").read_text())
    (group,) = meta["groups"]
    assert group["threshold_rule"] == RULE
    domains = group["domains"]
    assert {d: (e["own"], e["n"]) for d, e in domains.items()} == {"source": (True, 21), "target": (True, 10)}
    assert group["threshold"] == pytest.approx(max(d["threshold"] for d in domains.values()))
    # the measured rates are those of the held-out clips' scores in the run's scores file
    held = json.loads((detector / "run" / "calibration.json").read_text())["clips"]
    (scores_file,) = (detector / "run" / "scores").glob("*.csv")
    with open(scores_file, newline="") as f:
        scores = {r["path"]: float(r["anomaly_score"]) for r in csv.DictReader(f)}
    for domain, entry in domains.items():
        mine = np.array([scores[p] for p in held if f"_{domain}_" in Path(p).name])
        assert entry["threshold"] == pytest.approx(np.quantile(mine, 0.9), rel=1e-6)
        assert entry["measured_false_alarm_rate"] == pytest.approx(np.mean(mine > entry["threshold"]))
        assert entry["measured_false_alarm_rate_domain_unknown"] == pytest.approx(np.mean(mine > group["threshold"]))


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_score_dir_uses_the_clip_domain_threshold_when_known(detector: Path, two_domains: Path, tmp_path: Path) -> None:
    group = json.loads((detector / "detector.json").read_text())["groups"][0]
    own = {d: e["threshold"] for d, e in group["domains"].items()}
    assert own["source"] != own["target"]
    assert _cli("score-dir", detector, two_domains, "-o", tmp_path / "named.csv") == 0  # DCASE names: domain known
    rows = [r for r in _rows(tmp_path / "named.csv") if "_test_" in r["path"]]
    assert len(rows) == 12
    for r in rows:
        domain = "target" if "_target_" in Path(r["path"]).name else "source"
        assert float(r["threshold"]) == pytest.approx(own[domain])
        assert r["decision"] == ("anomaly" if float(r["anomaly_score"]) > own[domain] else "normal")
    plain = tmp_path / "plain"
    plain.mkdir()
    for clip in (two_domains / "fan" / "test").glob("*.wav"):
        shutil.copy(clip, plain / clip.name.replace("section_00_", "x_"))  # no name convention: domain unknown
    assert _cli("score-dir", detector, plain, "-o", tmp_path / "plain.csv", "--machine-type", "fan") == 0
    assert [float(r["threshold"]) for r in _rows(tmp_path / "plain.csv")] == pytest.approx([group["threshold"]] * 12)
    args = ("score-dir", detector, plain, "-o", tmp_path / "told.csv", "--machine-type", "fan", "--domain", "target")
    assert _cli(*args) == 0
    assert [float(r["threshold"]) for r in _rows(tmp_path / "told.csv")] == pytest.approx([own["target"]] * 12)


def test_a_detector_json_without_domain_thresholds_still_loads(detector: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(detector, old)
    meta = json.loads((old / "detector.json").read_text())
    for group in meta["groups"]:
        for key in ("domains", "threshold_rule", "calibration"):
            del group[key]
    (old / "detector.json").write_text(json.dumps(meta))
    loaded = Detector(old)
    info = loaded.group("fan", "00")
    assert (
        info.domains == {}
        and info.threshold_for("target") == info.threshold_for(None) == meta["groups"][0]["threshold"]
    )


def test_the_report_states_the_false_alarm_rate_per_domain(detector: Path, tmp_path: Path) -> None:
    assert _cli("report", detector / "run", "-o", tmp_path / "r.html", "--no-embedding-map") == 0
    html = (tmp_path / "r.html").read_text()
    assert "Thresholds per domain" in html and "held-out normal clips' scores" in html
    table = html[html.index("id='domain-thresholds'") :]
    assert "<td>source</td><td>21</td>" in table and "<td>target</td><td>10</td>" in table
    assert " / 21 (" in table and " / 10 (" in table


def test_the_service_uses_the_domain_threshold_the_client_gives(detector: Path, two_domains: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from soundsentry.deploy.service import create_app

    loaded = Detector(detector)
    info = loaded.group("fan", "00")
    client = TestClient(create_app(loaded, timeout_s=60.0))
    clip = sorted((two_domains / "fan" / "test").glob("*_target_test_normal_*.wav"))[0]
    files = {"files": (clip.name, clip.read_bytes(), "audio/wav")}
    thresholds = {}
    for domain in (None, "target", "source"):
        fields = {"machine_type": "fan", "section": "00"} | ({"domain": domain} if domain else {})
        response = client.post("/score", data=fields, files=files)
        assert response.status_code == 200, response.text
        thresholds[domain] = response.json()["results"][0]["threshold"]
    assert thresholds == pytest.approx(
        {None: info.threshold, **{d: info.threshold_for(d) for d in ("target", "source")}}
    )
    response = client.post("/score", data={"machine_type": "fan", "domain": "moon"}, files=files)
    assert response.status_code == 422 and "unknown domain 'moon'" in response.json()["detail"]
