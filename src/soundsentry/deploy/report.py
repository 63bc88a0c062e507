"""``soundsentry report RUN -o report.html``: one self-contained HTML page about a run.

Sections: the results table of every scorer (``RUN/results/<scorer>/results.csv``), ROC curves per machine type
and section, test score histograms of normal vs anomalous clips per domain with the gamma threshold fitted on the
training clips' (out-of-fold) scores, the thresholds per domain with the false-alarm rates measured on each
domain's normal clips (:mod:`soundsentry.deploy.thresholds`), an embedding map per model unit (t-SNE, coloured by
section, marked by label; :mod:`soundsentry.evaluation.embedding_map`), the resolved config and the training
summary. Images are
PNGs drawn with matplotlib's Agg canvas and embedded as base64; every string from the run is HTML-escaped; the
file is written atomically.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import html
import io
import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from soundsentry.errors import DataError
from soundsentry.io import atomic_write_text
from soundsentry.types import Clip, Label, Split

if TYPE_CHECKING:  # matplotlib is imported when a report is drawn, not by every CLI start
    from matplotlib.figure import Figure

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; } td:nth-child(-n+3) { text-align: left; }
tr.summary td { background: #fafafa; font-weight: 600; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.3em 0; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.85em; }
"""


def _png(fig: Figure) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return _img(buffer.getvalue(), fig.get_label())


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">'


def _table(path: Path) -> str:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        return "<p>(empty)</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in rows[0])
    body = []
    for row in rows[1:]:
        cells = [_cell(h, v) for h, v in zip(rows[0], row, strict=False)]
        css = ' class="summary"' if row and row[0] != "section" else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(header: str, value: str) -> str:
    """Metrics (fractions in results.csv) shown as percentages with two decimals."""
    if header.startswith(("AUC", "pAUC", "official")) and value:
        try:
            return f"{100.0 * float(value):.2f}"
        except ValueError:
            return value
    return value


def _scores(path: Path) -> dict[str, float]:
    with open(path, newline="", encoding="utf-8") as f:
        return {row["path"]: float(row["anomaly_score"]) for row in csv.DictReader(f)}


def _roc_figure(machine_type: str, tests: list[Clip], scores: dict[str, float]) -> Figure | None:
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = Figure(figsize=(4.5, 4.2), label=f"ROC curves of {machine_type}")
    ax = fig.add_subplot()
    drawn = False
    for section in sorted({c.section for c in tests}):
        clips = [c for c in tests if c.section == section and c.path in scores]
        y = np.array([c.label is Label.ANOMALY for c in clips])
        if y.all() or not y.any():
            continue  # a ROC curve needs both classes
        s = np.array([scores[c.path] for c in clips])
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"section {section} (AUC {100 * roc_auc_score(y, s):.1f} %)")
        drawn = True
    if not drawn:
        return None
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"{machine_type}: ROC per section")
    ax.legend(fontsize=7, loc="lower right")
    fig.subplots_adjust(left=0.15, right=0.96, bottom=0.12, top=0.92)  # fixed margins: tight_layout doubles drawing
    return fig


def _histogram_figure(machine_type: str, clips: list[Clip], scores: dict[str, float], percentile: float) -> Figure:
    from matplotlib.figure import Figure

    from soundsentry.evaluation.threshold import fit_gamma_threshold

    tests = [c for c in clips if c.split is Split.TEST and c.path in scores]
    panels = sorted({(c.section, c.domain.value) for c in tests})
    fig = Figure(figsize=(3.2 * max(1, len(panels)), 2.8), label=f"score histograms of {machine_type}")
    for i, (section, domain) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        group = [c for c in tests if (c.section, c.domain.value) == (section, domain)]
        finite = [v for v in (scores[c.path] for c in group) if np.isfinite(v)]
        bins = np.histogram_bin_edges(finite, bins=15) if finite else 15  # shared, so the bars line up
        for label, colour in ((Label.NORMAL, "tab:blue"), (Label.ANOMALY, "tab:red")):
            values = [scores[c.path] for c in group if c.label is label and np.isfinite(scores[c.path])]
            if values:
                ax.hist(values, bins=bins, alpha=0.55, color=colour, label=label.value)
        train = np.array(
            [scores[c.path] for c in clips if c.split is Split.TRAIN and c.section == section and c.path in scores]
        )
        train = train[np.isfinite(train)]
        threshold = None
        if train.size >= 2:
            with contextlib.suppress(DataError):  # degenerate training scores: no threshold line
                threshold = fit_gamma_threshold(train, percentile)
        if threshold is not None:
            lo, hi = (min(finite), max(finite)) if finite else (threshold, threshold)
            span = max(hi - lo, 1e-12)
            if lo - span <= threshold <= hi + span:
                ax.axvline(threshold, color="k", ls="--", lw=1, label=f"gamma {percentile:g}")
            else:  # far off this panel's scores (e.g. one threshold for two domains' score scales): say so
                ax.set_xlim(lo - 0.05 * span, hi + 0.05 * span)
                side = "right" if threshold > hi else "left"
                ax.text(
                    0.98 if side == "right" else 0.02,
                    0.5,
                    f"threshold {threshold:.3g} off scale",
                    transform=ax.transAxes,
                    ha=side,
                    va="center",
                    fontsize=6,
                    rotation=90,
                )
        ax.set(title=f"{machine_type} {section}, {domain}", xlabel="anomaly score")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=6)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.17, top=0.88, wspace=0.3)
    return fig


def write_embedding_maps(run_dir: Path, clips: list[Clip], mode: str, out_dir: Path) -> list[tuple[str, Path]]:
    """One t-SNE map PNG per model unit (units embed into different spaces): ``out_dir/embedding_map_<unit>.png``.

    Returns:
        (unit, PNG path) pairs; a unit without train and test clips (or with fewer than 5) gets none.
    """
    from soundsentry.evaluation.embedding_map import plot_embedding_map
    from soundsentry.runfiles import EMBEDDINGS_FILE
    from soundsentry.training.data import unit_of

    path = run_dir / EMBEDDINGS_FILE
    if not path.is_file():
        return []
    with np.load(path) as data:
        row = {str(p): i for i, p in enumerate(data["paths"])}
        embeddings = data["clip_embeddings"]
    by_unit: dict[str, list[Clip]] = defaultdict(list)
    for c in clips:
        if c.path in row:
            by_unit[unit_of(c, mode)].append(c)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for unit, members in sorted(by_unit.items()):
        train = [c for c in members if c.split is Split.TRAIN]
        test = [c for c in members if c.split is Split.TEST]
        if not train or not test or len(members) < 5:
            continue
        png = out_dir / f"embedding_map_{unit}.png"
        plot_embedding_map(
            embeddings[[row[c.path] for c in train]],
            [f"{c.machine_type}/{c.section}" for c in train],
            embeddings[[row[c.path] for c in test]],
            [f"{c.machine_type}/{c.section}" for c in test],
            [c.label is Label.ANOMALY for c in test],
            png,
            title=f"embedding map: {unit}",
        )
        written.append((unit, png))
    return written


def _embedding_maps(run_dir: Path, clips: list[Clip], mode: str) -> list[str]:
    """One t-SNE map per model unit, as ``<img>`` tags."""
    with tempfile.TemporaryDirectory(prefix="soundsentry-report-") as tmp:
        return [
            _img(png.read_bytes(), f"embedding map of {unit}")
            for unit, png in write_embedding_maps(run_dir, clips, mode, Path(tmp))
        ]


def _rate_cell(values: np.ndarray, threshold: float) -> str:
    """``k / n (p %)`` of ``values`` above ``threshold``; empty without values."""
    values = values[np.isfinite(values)]
    if not values.size:
        return ""
    k = int((values > threshold).sum())
    return f"{k} / {values.size} ({100.0 * k / values.size:.0f} %)"


def _calibration_clips(run: Path, clips: list[Clip]) -> set[str]:
    """Paths of the held-out normal clips a ``soundsentry fit`` run calibrates on (none for other runs)."""
    from soundsentry.deploy.thresholds import CALIBRATION_FILE

    path = run / CALIBRATION_FILE
    if not path.is_file():
        return set()
    try:
        return set(json.loads(path.read_text(encoding="utf-8"))["clips"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"{path}: unreadable ({err}); run `soundsentry fit` again") from None


def _domain_threshold_table(run: Path, clips: list[Clip], scores: dict[str, float], percentile: float) -> str:
    """Per (machine type, section, domain): its threshold (gamma at ``percentile`` of its calibration clips'
    scores: the held-out normals of a ``fit`` run, else the training clips' out-of-fold scores), the domain-unknown
    threshold, and the false-alarm rates measured on the calibration normals and on the labelled test normals."""
    from soundsentry.deploy.thresholds import MIN_DOMAIN_SCORES, group_thresholds
    from soundsentry.scoring import is_fit_clip

    held = _calibration_clips(run, clips)
    head = [
        "machine type", "section", "domain", "calibration clips", "threshold", "domain-unknown threshold",
        "false alarms, own threshold", "false alarms, domain-unknown", "test normals, own threshold",
        "test normals, domain-unknown",
    ]  # fmt: skip
    rows = []
    for group in sorted({c.group for c in clips if is_fit_clip(c)}):
        cal = [c for c in clips if c.group == group and c.path in held]
        if len(cal) < MIN_DOMAIN_SCORES:  # as export: too few held out, the training clips' scores join
            cal += [c for c in clips if c.group == group and is_fit_clip(c)]
        values = np.array([scores.get(c.path, np.nan) for c in cal])
        try:
            limits = group_thresholds(values, [c.domain.value for c in cal], "gamma", percentile)
        except DataError as err:
            rows.append([*group, "", str(len(cal)), f"n/a ({err})", "", "", "", "", ""])
            continue
        tests = [
            c for c in clips if c.group == group and c.split is Split.TEST and c.label is Label.NORMAL
            and c.path not in held
        ]  # fmt: skip
        for domain, entry in limits.domains.items():
            mine = np.array([scores.get(c.path, np.nan) for c in cal if c.domain.value == domain])
            test = np.array([scores.get(c.path, np.nan) for c in tests if c.domain.value == domain])
            rows.append(
                [
                    *group,
                    domain,
                    str(entry["n"]),
                    f"{entry['threshold']:.4g}" + ("" if entry["own"] else " (domain-unknown: too few clips)"),
                    f"{limits.threshold:.4g}",
                    _rate_cell(mine, entry["threshold"]),
                    _rate_cell(mine, limits.threshold),
                    _rate_cell(test, entry["threshold"]),
                    _rate_cell(test, limits.threshold),
                ]  # fmt: skip
            )
    head_html = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head_html}</tr></thead><tbody>{body}</tbody></table>"


def _pre(path: Path, *, as_json: bool = False) -> str:
    if not path.is_file():
        return f"<p>{html.escape(path.name)}: not found in the run.</p>"
    text = path.read_text(encoding="utf-8")
    if as_json:
        text = json.dumps(json.loads(text), indent=2)
    return f"<pre>{html.escape(text)}</pre>"


def write_report(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    scorer: str | None = None,
    percentile: float = 0.9,
    embedding_map: bool = True,
) -> Path:
    """Write the HTML report of a run (after ``soundsentry run`` or train + extract + score + evaluate).

    Args:
        run_dir: the run folder.
        out: the HTML file.
        scorer: scorer spec whose scores the figures show (default: the recipe's first scorer).
        percentile: the gamma threshold's quantile in the histograms.
        embedding_map: draw the t-SNE maps (the slowest part).

    Returns:
        ``out``.
    """
    from soundsentry.config import load_recipe
    from soundsentry.runfiles import CONFIG_FILE, MANIFEST_FILE, SUMMARY_FILE, scores_file_name
    from soundsentry.runfiles import read_clips as _read_clips

    run = Path(run_dir)
    if not (run / CONFIG_FILE).is_file():
        raise DataError(f"{run}: no {CONFIG_FILE}, not a run folder; train one with `soundsentry run`")
    recipe = load_recipe(run / CONFIG_FILE)
    clips = _read_clips(run / MANIFEST_FILE)
    spec = scorer or (recipe.score.scorers[0] if recipe.score.scorers else "")
    scores_path = run / "scores" / scores_file_name(spec) if spec else None
    title = f"soundsentry report: {recipe.name}"
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p>Run folder: <code>{html.escape(str(run.resolve()))}</code>; {len(clips)} clips.</p>",
        "<h2 id='results'>Results</h2>",
    ]
    tables = sorted((run / "results").glob("*/results.csv"))
    if not tables:
        parts.append("<p>No results yet; run <code>soundsentry evaluate</code>.</p>")
    for table in tables:
        parts += [f"<h3>{html.escape(table.parent.name)}</h3>", _table(table)]
    if scores_path is not None and scores_path.is_file():
        scores = _scores(scores_path)
        types = sorted({c.machine_type for c in clips})
        parts.append(f"<h2 id='roc'>ROC curves ({html.escape(spec)})</h2>")
        for machine_type in types:
            fig = _roc_figure(
                machine_type,
                [
                    c
                    for c in clips
                    if c.machine_type == machine_type and c.split is Split.TEST and c.label is not Label.UNKNOWN
                ],
                scores,
            )
            parts.append(
                _png(fig) if fig is not None else f"<p>{html.escape(machine_type)}: no labelled test clips.</p>"
            )
        parts.append(
            f"<h2 id='histograms'>Score histograms ({html.escape(spec)}; dashed: gamma threshold at "
            f"{percentile:g} of the training clips' scores)</h2>"
        )
        for machine_type in types:
            parts.append(
                _png(
                    _histogram_figure(
                        machine_type, [c for c in clips if c.machine_type == machine_type], scores, percentile
                    )
                )
            )
        from soundsentry.deploy.thresholds import RULE

        calibration = "held-out normal clips'" if _calibration_clips(run, clips) else "training clips' out-of-fold"
        parts += [
            f"<h2 id='domain-thresholds'>Thresholds per domain ({html.escape(spec)}; gamma at {percentile:g} of the "
            f"{calibration} scores)</h2>",
            f"<p>Domain-unknown threshold: the {html.escape(RULE)}. False alarms: normal clips above the threshold, "
            "measured on the calibration clips and on the test set's normal clips of each domain.</p>",
            _domain_threshold_table(run, clips, scores, percentile),
        ]
    else:
        parts.append(f"<p>No scores of {html.escape(spec or 'any scorer')}; run <code>soundsentry score</code>.</p>")
    if embedding_map:
        maps = _embedding_maps(run, clips, recipe.train.mode)
        parts.append("<h2 id='embedding-map'>Embedding map</h2>")
        parts += maps or ["<p>No embeddings; run <code>soundsentry extract</code>.</p>"]
    parts += [
        "<h2 id='config'>Config</h2>",
        _pre(run / CONFIG_FILE),
        "<h2 id='train-summary'>Training summary</h2>",
        _pre(run / SUMMARY_FILE, as_json=True),
        "</body></html>\n",
    ]
    atomic_write_text(Path(out), "\n".join(parts))
    return Path(out)


__all__ = ["write_report"]
