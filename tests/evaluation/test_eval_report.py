"""Text, Markdown and CSV reports."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from soundsentry.evaluation import EvaluationResult, evaluate, format_table, write_csv, write_markdown
from soundsentry.types import Clip, Domain, Label, Split


def _result(rule: str, target_anomaly: float = 4.0) -> EvaluationResult:
    specs = [
        (Domain.SOURCE, Label.NORMAL, 1.0),
        (Domain.SOURCE, Label.ANOMALY, 3.0),
        (Domain.TARGET, Label.NORMAL, 2.0),
        (Domain.TARGET, Label.ANOMALY, target_anomaly),
    ]
    clips = [Clip(f"/t/{i}.wav", "fan", "00", d, Split.TEST, lab) for i, (d, lab, _) in enumerate(specs)]
    return evaluate(clips, [s for *_, s in specs], rule=rule)


@pytest.mark.parametrize("rule", ["2020", "2021", "2022"])
def test_format_table_shows_percent_and_official_score(rule: str) -> None:
    text = format_table(_result(rule))
    assert f"DCASE {rule} rule" in text
    assert "official score 100.00%" in text
    assert "arithmetic mean" in text and "harmonic mean" in text
    assert ("AUC (target)" in text) == (rule == "2022")
    assert ("target" in text.split("official score 100.00%")[1]) == (rule != "2020")


def test_format_table_values_are_percent_with_two_decimals() -> None:
    # Normals 1 (source), 2 (target); anomalies 3 (source), 1.5 (target).
    # AUC (source) = 1; AUC (target) = normal 2 vs anomalies 3, 1.5 -> 1/2; AUC (all) = 3 of 4 pairs.
    text = format_table(_result("2022", target_anomaly=1.5))
    row = next(line for line in text.splitlines() if line.startswith("fan  ") and " 00 " in line)
    assert row.split()[2:5] == ["100.00", "50.00"] + row.split()[4:5]
    assert row.split()[5] == "75.00"


def test_write_csv_and_markdown(tmp_path: Path) -> None:
    result = _result("2022", target_anomaly=1.5)
    path = write_csv(result, tmp_path / "r" / "results.csv")
    rows = list(csv.DictReader(path.open()))
    section = rows[0]
    assert (section["level"], section["machine_type"], section["section"]) == ("section", "fan", "00")
    assert float(section["AUC (all)"]) == 0.75 and float(section["AUC (target)"]) == 0.5
    official = [r for r in rows if r["level"] == "official score" and r["machine_type"] == "all"]
    assert float(official[0]["official_score"]) == pytest.approx(result.official_score)
    md = write_markdown(result, tmp_path / "r" / "results.md").read_text()
    assert "| machine type | section | AUC (source) |" in md
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["results.csv", "results.md"]
