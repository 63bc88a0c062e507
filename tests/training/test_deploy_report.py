"""The HTML report of a run: valid HTML, every section, embedded PNGs, the results table, escaped strings."""

from __future__ import annotations

import base64
import csv
import shutil
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pytest

from soundsentry import stages
from soundsentry.cli import main
from soundsentry.deploy.report import write_report
from soundsentry.errors import DataError

VOID = {"meta", "img", "br", "hr", "link", "input"}


class _Checker(HTMLParser):
    """Collects ids, images and table cells, and checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.images: list[dict[str, str]] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.append(attributes["id"])
        if tag == "img":
            self.images.append(attributes)
        if tag not in VOID:
            self.stack.append(tag)
        self._in_cell = tag in ("td", "th")
        if self._in_cell:
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unexpected </{tag}>")
        self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data


@pytest.fixture(scope="module")
def run_dir(tiny_data: Path, tiny_overrides: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("report_run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stages.run("s1_arcface_mfn_demo", tiny_data, run, [*tiny_overrides, "train.epochs=1", "train.mode=all"])
    return run


def _parse(path: Path) -> _Checker:
    checker = _Checker()
    checker.feed(path.read_text(encoding="utf-8"))
    checker.close()
    assert checker.errors == [] and checker.stack == []
    return checker


def test_report_has_every_section_with_embedded_images(run_dir: Path, tmp_path: Path) -> None:
    out = write_report(run_dir, tmp_path / "report.html")
    page = _parse(out)
    assert page.ids == ["results", "roc", "histograms", "domain-thresholds", "embedding-map", "config", "train-summary"]
    alts = [img["alt"] for img in page.images]
    types = ["fan", "motor", "slider", "valve"]
    assert alts == [f"ROC curves of {t}" for t in types] + [f"score histograms of {t}" for t in types] + [
        "embedding map of all"
    ]
    for img in page.images:
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        assert base64.b64decode(img["src"][len(prefix) :])[:8] == b"\x89PNG\r\n\x1a\n"
    # the results table: every row of results.csv, metrics as percentages
    with open(next((run_dir / "results").glob("*/results.csv")), newline="") as f:
        rows = list(csv.reader(f))
    assert page.cells[: len(rows[0])] == rows[0]
    # then the thresholds-per-domain table: a header and a row per domain (source, target) of the 8 groups
    assert len(page.cells) == len(rows) * len(rows[0]) + 10 * (1 + 2 * 8)
    first = dict(zip(rows[0], rows[1], strict=True))
    shown = dict(zip(rows[0], page.cells[len(rows[0]) : 2 * len(rows[0])], strict=True))
    assert float(shown["pAUC"]) == pytest.approx(100 * float(first["pAUC"]), abs=0.005)
    text = out.read_text()
    assert (run_dir / "config.yaml").read_text().splitlines()[0].strip() in text


def _no_drawing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip matplotlib's rendering (seconds per figure on a busy CPU) where a test is about something else."""
    from soundsentry.deploy import report

    monkeypatch.setattr(report, "_png", lambda fig: report._img(b"\x89PNG\r\n\x1a\n", fig.get_label()))


def test_strings_from_the_run_are_escaped(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_drawing(monkeypatch)
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    source = next((run / "results").glob("*/results.csv"))
    evil = run / "results" / "<script>alert(1)&"
    evil.mkdir()
    shutil.copy(source, evil / "results.csv")
    out = write_report(run, tmp_path / "r.html", embedding_map=False)
    text = out.read_text()
    assert "<script>" not in text and "&lt;script&gt;alert(1)&amp;" in text
    page = _parse(out)
    assert "embedding-map" not in page.ids


def test_cli_report_and_errors(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_drawing(monkeypatch)
    assert main(["report", str(run_dir), "-o", str(tmp_path / "r.html"), "--no-embedding-map"]) == 0
    assert (tmp_path / "r.html").stat().st_size > 0
    assert main(["report", str(tmp_path), "-o", str(tmp_path / "x.html")]) == 2
    with pytest.raises(DataError, match="not a run folder"):
        write_report(tmp_path, tmp_path / "x.html")


def test_histogram_writes_a_far_threshold_instead_of_squeezing_the_bars() -> None:
    """Training scores on another scale (e.g. the other domain's model) put the threshold far off this panel."""
    import numpy as np

    from soundsentry.deploy.report import _histogram_figure
    from soundsentry.types import Clip, Domain, Label, Split

    rng = np.random.default_rng(0)
    clips, scores = [], {}
    for i in range(20):  # training scores around 100: the gamma threshold lands near 100
        clips.append(Clip(f"/t/train{i}.wav", "fan", "00", Domain.SOURCE, Split.TRAIN, Label.NORMAL))
        scores[clips[-1].path] = 100.0 + rng.normal()
    for domain, centre in ((Domain.SOURCE, 100.0), (Domain.TARGET, 0.01)):  # target test scores near 0.01
        for i, label in enumerate([Label.NORMAL, Label.ANOMALY] * 5):
            clips.append(Clip(f"/t/{domain.value}{i}.wav", "fan", "00", domain, Split.TEST, label))
            scores[clips[-1].path] = centre * (1.0 + 0.1 * rng.random())
    fig = _histogram_figure("fan", clips, scores, 0.9)
    source, target = fig.axes
    assert source.get_title() == "fan 00, source" and target.get_title() == "fan 00, target"
    assert any(line.get_linestyle() == "--" for line in source.get_lines())  # in range: drawn
    assert not target.get_lines()  # far off: not drawn, so the x range stays on the panel's own scores
    assert any("off scale" in t.get_text() for t in target.texts)
    assert target.get_xlim()[1] < 1.0
