"""Load a detector bundle and score clips: waveform -> front-end -> embedding network -> scorer -> decision.

Scoring never stops a batch for one bad clip: :meth:`Detector.score_files` returns one :class:`ClipScore` per
input, with a one-line ``error`` for a clip it could not score.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from soundsentry.deploy.bundle import GroupInfo, read_bundle_meta
from soundsentry.deploy.quality import ClipQuality, QualityLimits, band_top_hz, gate_clip, min_seconds_of
from soundsentry.errors import AudioError, ConfigError, DataError, SoundSentryError
from soundsentry.types import Domain

RESULT_COLUMNS = ("path", "machine_type", "section", "anomaly_score", "threshold", "decision", "error", "quality")


@dataclass(frozen=True)
class ClipScore:
    """The verdict on one clip.

    Attributes:
        path: the clip (or a request's name for it).
        machine_type, section: the group it was scored against.
        score: anomaly score (higher = more anomalous); NaN when the clip could not be scored.
        threshold: the group's decision threshold; NaN when unknown.
        decision: ``anomaly``, ``normal`` or ``error``.
        error: why the clip could not be scored (one line), else empty.
        quality: the input-quality gate's verdict: ``ok``, or the problem that kept the clip from being scored
            (:class:`~soundsentry.deploy.quality.QualityProblem`); empty when the gate did not run (unknown group).
    """

    path: str
    machine_type: str
    section: str
    score: float
    threshold: float
    decision: str
    error: str = ""
    quality: str = ""

    def to_dict(self) -> dict[str, Any]:
        finite = np.isfinite(self.score)
        return {
            "path": self.path,
            "machine_type": self.machine_type,
            "section": self.section,
            "anomaly_score": float(self.score) if finite else None,
            "threshold": float(self.threshold) if np.isfinite(self.threshold) else None,
            "decision": self.decision,
            "error": self.error,
            "quality": self.quality,
        }


class Detector:
    """A loaded detector bundle.

    Args:
        path: the bundle folder written by :func:`~soundsentry.deploy.export_detector`.
        backend: ``torch`` (the embedding network in PyTorch) or ``onnx`` (onnxruntime on the CPU, with the
            ``onnx/<unit>.onnx`` files added by :func:`~soundsentry.deploy.onnx_export.export_onnx`; the front-end
            stays in PyTorch).
        device: torch device for the ``torch`` backend.
        verify: check the files' SHA-256 sums against ``detector.json``.

    Raises:
        BundleError: a foreign, damaged or incompatible bundle (one line, with the fix).
    """

    def __init__(
        self, path: str | os.PathLike[str], *, backend: str = "torch", device: str = "cpu", verify: bool = True
    ) -> None:
        from soundsentry.config import recipe_from_dict
        from soundsentry.training.features import build_feature_pipeline
        from soundsentry.training.trainer import load_embedding_model

        self.path = Path(path)
        self.meta = read_bundle_meta(self.path, verify=verify)
        self.recipe = recipe_from_dict(self.meta["recipe"], str(self.path / "detector.json"))
        self.scorer_spec: str = self.meta["scorer"]
        from soundsentry.scorers import create_scorer

        # A logits scorer (S4's softmax_id) scores the classification head's clip logits, not the embedding; a
        # chunk scorer (chunks:...) scores each chunk embedding and pools the chunk scores of the clip.
        self.input_kind: str = getattr(create_scorer(self.scorer_spec), "input_kind", "embedding")
        self.uses_logits = self.input_kind == "logits"
        self.uses_chunks = self.input_kind == "chunks"
        self.device = device
        self.pipeline = build_feature_pipeline(self.recipe).to(device)
        # bundles written before the gate have no min_seconds: the same computation, on load
        stated = self.meta.get("min_seconds")
        self.min_seconds = float(stated) if stated else min_seconds_of(self.pipeline, self.sample_rate)
        self.min_sample_rate = math.ceil(2.0 * band_top_hz(self.pipeline, self.sample_rate))
        self.groups: dict[tuple[str, str], GroupInfo] = {}
        self._scorers: dict[tuple[str, str], Any] = {}
        for raw in self.meta["groups"]:
            info = GroupInfo(**raw)
            key = (info.machine_type, info.section)
            self.groups[key] = info
            with np.load(self.path / info.bank) as bank:
                self._scorers[key] = self._fit_group(bank, info)
        if backend not in ("torch", "onnx"):
            raise ConfigError(f"unknown backend {backend!r}; valid: torch, onnx")
        # Each unit's model file is read once: its network (torch backend) and its head (logits scorers).
        self._heads: dict[str, Any] = {}
        models: dict[str, Any] = {}
        if backend == "torch" or self.uses_logits:
            from soundsentry.deploy.bundle import BundleError
            from soundsentry.training.trainer import load_head

            for unit, rel in self.meta["units"].items():
                model, _ = load_embedding_model(self.path / rel)
                models[unit] = model.to(device).eval()
                if self.uses_logits:
                    head = load_head(self.path / rel, model.embed_dim)
                    if head is None:
                        raise BundleError(f"{self.path / rel}: its head has no logits for {self.scorer_spec!r}")
                    self._heads[unit] = head[0].to(device)
        if backend == "torch":
            self._models = models
            self._embed = self._embed_torch
        else:
            self._sessions = self._load_onnx()
            self._embed = self._embed_onnx
        self.backend = backend

    def _fit_group(self, bank: Any, info: GroupInfo) -> Any:
        """The group's scorer, refitted on its bank as the ``score`` stage fits it on the training clips."""
        from soundsentry.scoring import fit_scorer_on

        X, domains = self._bank_rows(bank, info)
        X = X.astype(np.float64)
        doms = None if domains is None else [Domain(d) for d in domains]
        centres = bank["centres"].astype(np.float64) if "centres" in bank else None
        if centres is not None and "centre_domains" in bank:  # bundles before issue 16 have untagged centres
            from soundsentry.scorers.centres import GroupCentres

            centres = GroupCentres(centres, tuple(Domain(str(d)) for d in bank["centre_domains"]))
        return fit_scorer_on(
            self.scorer_spec,
            X,
            domains=doms,
            centres=centres,
            clip_index=bank["chunk_clip"] if self.uses_chunks and "chunk_clip" in bank else None,
            class_index=int(bank["class_index"]) if "class_index" in bank else None,
            where=f"{info.machine_type} section {info.section} of {self.path}",
        )

    def _bank_rows(self, bank: Any, info: GroupInfo) -> tuple[np.ndarray, np.ndarray | None]:
        """The rows the group's scorer is fitted on, with their domains: the clip embeddings (or logits), or for
        a chunk scorer the training clips' chunk embeddings with each chunk's domain."""
        from soundsentry.deploy.bundle import BundleError

        key = "chunk_embeddings" if self.uses_chunks else "embeddings"
        if key not in bank:
            raise BundleError(
                f"{self.path / info.bank}: no {key} for scorer {self.scorer_spec!r}; the bundle is damaged or was "
                "exported for another scorer, export the run again"
            )
        domains = "chunk_domains" if self.uses_chunks else "domains"
        return bank[key], bank.get(domains)

    def _load_onnx(self) -> dict[str, Any]:
        from soundsentry.deploy.bundle import BundleError
        from soundsentry.deploy.onnx_export import require_onnx

        require_onnx()
        import onnxruntime as ort

        exported = self.meta.get("onnx") or {}
        missing = sorted(set(self.meta["units"]) - set(exported))
        if missing:
            raise BundleError(
                f"{self.path}: no ONNX model for unit(s) {', '.join(missing)}; "
                f"run `soundsentry export-onnx {self.path}` first"
            )
        return {
            unit: ort.InferenceSession(str(self.path / exported[unit]["path"]), providers=["CPUExecutionProvider"])
            for unit in self.meta["units"]
        }

    # --- information ----------------------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return int(self.recipe.features.sample_rate)

    def info(self) -> dict[str, Any]:
        """What the service's ``GET /info`` returns: recipe, scorer, groups with thresholds, versions."""
        return {
            "recipe": self.recipe.name,
            "scorer": self.scorer_spec,
            "backend": self.backend,
            "sample_rate": self.sample_rate,
            "min_seconds": self.min_seconds,
            "min_sample_rate": self.min_sample_rate,
            "versions": self.meta.get("versions", {}),
            "created": self.meta.get("created"),
            "groups": [
                {
                    "machine_type": g.machine_type,
                    "section": g.section,
                    "threshold": g.threshold,
                    "method": g.method,
                    "expected_false_alarm_rate": g.expected_false_alarm_rate,
                    "measured_false_alarm_rate": g.measured_false_alarm_rate,
                    "domains": g.domains,
                    "n_train": g.n_train,
                }
                for g in self.groups.values()
            ],
        }

    def group(self, machine_type: str, section: str) -> GroupInfo:
        """The group's record; a :class:`DataError` naming the known groups when it is not in the bundle."""
        section = normalise_section(section)
        key = (machine_type, section)
        if key not in self.groups:
            known = ", ".join(f"{t}/{s}" for t, s in sorted(self.groups))
            raise DataError(f"unknown machine {machine_type!r} section {section!r}; this detector knows: {known}")
        return self.groups[key]

    # --- scoring --------------------------------------------------------------------------------------------
    def _embed_torch(self, unit: str, chunks: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return self._models[unit](chunks.to(self.device)).float().cpu().numpy()

    def _embed_onnx(self, unit: str, chunks: torch.Tensor) -> np.ndarray:
        x = chunks.detach().to("cpu", torch.float32).numpy()
        return np.asarray(self._sessions[unit].run(["embeddings"], {"chunks": x})[0])

    def _chunk_embeddings(self, wave: np.ndarray, unit: str) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))[None].to(self.device)
        with torch.no_grad():
            chunks = self.pipeline(x)[0]
        if chunks.shape[0] == 0:
            raise DataError("the clip is too short for one feature chunk; send a longer recording")
        return self._embed(unit, chunks)

    def embed_waveform(self, wave: np.ndarray, unit: str) -> np.ndarray:
        """Clip embedding (D,) of a waveform at the detector's sample rate, ``(n,)`` or ``(2, n)`` under
        ``features.channel: both`` (as :meth:`load_clip` gives it): mean over its chunks."""
        return self._chunk_embeddings(wave, unit).mean(axis=0)

    def scorer_input(self, wave: np.ndarray, unit: str) -> np.ndarray:
        """What the scorer takes for one clip: its embedding (D,); for a logits scorer the mean over its chunks of
        the head's margin-free chunk logits (C,) (as ``soundsentry extract`` computes them); for a chunk scorer
        its chunk embeddings (M, D)."""
        if self.uses_chunks:
            return self._chunk_embeddings(wave, unit)
        if not self.uses_logits:
            return self.embed_waveform(wave, unit)
        chunk_emb = torch.from_numpy(self._chunk_embeddings(wave, unit)).float().to(self.device)
        with torch.no_grad():
            return self._heads[unit].logits(chunk_emb).double().mean(dim=0).cpu().numpy()

    def score_input(self, x: np.ndarray, machine_type: str, section: str) -> float:
        """The anomaly score of one clip's :meth:`scorer_input` against its group. A new clip's domain is not
        known: a domain-aware scorer scores it as :attr:`Domain.UNKNOWN` (as the thresholds were fitted)."""
        scorer = self._scorers[(machine_type, section)]
        rows = np.asarray(x, dtype=np.float64).reshape(-1 if self.uses_chunks else 1, x.shape[-1])
        domains = [Domain.UNKNOWN] * len(rows) if getattr(scorer, "uses_domains", False) else None
        if self.uses_chunks:  # every row is a chunk of the one clip
            one_clip = np.zeros(len(rows), dtype=np.int64)
            if hasattr(scorer, "score_clips"):
                return float(scorer.score_clips(rows, one_clip, 1, domains=domains)[0])
            values = scorer.anomaly_score(rows, domains=domains) if domains else scorer.anomaly_score(rows)
            return float(scorer.pool_clips(values, one_clip, 1)[0])
        values = scorer.anomaly_score(rows, domains=domains) if domains else scorer.anomaly_score(rows)
        return float(values[0])

    def score_waveform(
        self, wave: np.ndarray, machine_type: str, section: str, *, name: str = "", domain: str | None = None
    ) -> ClipScore:
        """Score one waveform (at :attr:`sample_rate`; ``(n,)``, or ``(2, n)`` under ``features.channel: both``)
        against its group; raises on unknown groups.

        ``domain`` (``source`` / ``target``), when known, picks that domain's threshold; otherwise the group's
        domain-unknown threshold decides (:meth:`GroupInfo.threshold_for`). The score does not depend on it.
        A waveform shorter than :attr:`min_seconds` is refused (an :class:`AudioError`): padded into its one
        chunk, it would get a decision it does not deserve. Files go through the whole input-quality gate in
        :meth:`score_file`.
        """
        info = self.group(machine_type, section)
        needed = round(self.min_seconds * self.sample_rate)
        if wave.shape[-1] < needed:
            raise AudioError(
                f"{name or 'waveform'}: {wave.shape[-1]} samples, fewer than this detector's minimum of {needed} "
                f"({self.min_seconds:.4f} s at {self.sample_rate} Hz); send a longer recording"
            )
        score = self.score_input(self.scorer_input(wave, info.unit), info.machine_type, info.section)
        threshold = info.threshold_for(domain)
        decision = "anomaly" if score > threshold else "normal"
        return ClipScore(name, info.machine_type, info.section, score, threshold, decision)

    def load_clip(self, path: str | os.PathLike[str], *, max_seconds: float | None = None) -> np.ndarray:
        """Decode a file the way the training clips were decoded (rate, ``features.channel``, length policy)."""
        from soundsentry.training.features import load_recipe_audio

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # silence is the input-quality gate's call (score_file), not the loader's
            return load_recipe_audio(path, self.recipe.features, max_seconds=max_seconds)

    def quality_limits(self, *, max_seconds: float | None = None) -> QualityLimits:
        """What a clip must satisfy to be scored: this detector's minimum length and band, and ``max_seconds``."""
        return QualityLimits(
            min_seconds=self.min_seconds, min_sample_rate=self.min_sample_rate, max_seconds=max_seconds
        )

    def gate_and_load(
        self, path: str | os.PathLike[str], *, name: str | None = None, max_seconds: float | None = None
    ) -> tuple[ClipQuality, np.ndarray | None]:
        """The input-quality gate on one file and, when it passes, the clip as :meth:`load_clip` gives it, from the
        gate's own decoding (each file is decoded once). ``(verdict, None)`` when the gate refuses the clip."""
        from soundsentry.training.features import condition_recipe_audio

        verdict, samples, rate = gate_clip(path, self.quality_limits(max_seconds=max_seconds), name=name)
        if samples is None or rate is None:
            return verdict, None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # silence is the gate's call, and it passed
            return verdict, condition_recipe_audio(path, samples, rate, self.recipe.features)

    def score_file(
        self, path: str | os.PathLike[str], machine_type: str, section: str, domain: str | None = None
    ) -> ClipScore:
        """Score one file that passes the input-quality gate (``domain`` as :meth:`score_waveform`).

        A file the gate refuses, a file that fails later, or an unknown group gives a ClipScore with
        ``decision="error"``, no score, a one-line ``error`` and (for the gate) ``quality`` naming the problem.
        """
        threshold, quality = float("nan"), ""
        where = (str(path), machine_type, normalise_section(section), float("nan"))
        try:
            threshold = self.group(machine_type, section).threshold_for(domain)
            verdict, wave = self.gate_and_load(path)
            quality = verdict.label
            if wave is None:
                return ClipScore(*where, threshold, "error", verdict.reason, quality)
            return replace(
                self.score_waveform(wave, machine_type, section, name=str(path), domain=domain), quality=quality
            )
        except (SoundSentryError, OSError, RuntimeError) as err:
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            return ClipScore(*where, threshold, "error", message, quality)

    def score_files(
        self,
        items: Iterable[tuple[Any, ...]],
        *,
        progress: bool = False,
        total: int | None = None,
    ) -> list[ClipScore]:
        """Score ``(path, machine_type, section)`` or ``(path, machine_type, section, domain)`` items; one result
        per item, errors included."""
        from tqdm import tqdm

        iterator: Iterable[Any] = items
        if progress:
            iterator = tqdm(items, total=total, desc="scoring", unit="clip")
        return [self.score_file(*item) for item in iterator]


def normalise_section(section: str | int) -> str:
    """``0``, ``"0"``, ``"00"``, ``"section_00"``, ``"id_00"`` -> ``"00"``; other strings are returned unchanged."""
    text = str(section).strip()
    for prefix in ("section_", "id_"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return f"{int(text):02d}" if text.isdigit() else text


def load_detector(path: str | os.PathLike[str], **kwargs: Any) -> Detector:
    """``Detector(path, **kwargs)``."""
    return Detector(path, **kwargs)


def result_row(result: ClipScore) -> list[str]:
    """One results-CSV row (:data:`RESULT_COLUMNS`) of a result; a missing score or threshold is empty."""
    return [
        result.path,
        result.machine_type,
        result.section,
        "" if not np.isfinite(result.score) else repr(float(result.score)),
        "" if not np.isfinite(result.threshold) else repr(float(result.threshold)),
        result.decision,
        result.error,
        result.quality,
    ]


def results_table(results: Sequence[ClipScore]) -> str:
    """CSV text of results with a header row: :data:`RESULT_COLUMNS`."""
    from soundsentry.evaluation._csv import csv_text

    return csv_text([list(RESULT_COLUMNS), *(result_row(r) for r in results)])
