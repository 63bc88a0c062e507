"""Run a trained baseline autoencoder on clips, and the whole baseline end to end for benchmarking.

:func:`ae_error_vectors` streams one clip's reconstruction errors at a time (a 10 s clip is 309 x 640 floats);
:func:`ae_clip_statistics` keeps only the two scores' sufficient statistics per clip (``[mse, m]``, 129 floats).
:func:`ae_baseline_scores` trains one model per unit and scores every clip of the manifest with both scores.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from soundsentry.baselines.ae_features import ae_frontend, clip_vectors
from soundsentry.baselines.ae_scores import AEMSEScorer, SelectiveMahalanobisScorer, clip_statistics
from soundsentry.baselines.ae_train import AEModel, AEParams, fit_ae_unit, load_ae_model
from soundsentry.errors import ConfigError, DataError
from soundsentry.scoring import is_fit_clip
from soundsentry.types import Clip

UNITS = ("section", "machine_type")


def _model(model: AEModel | str | Path) -> AEModel:
    return model if isinstance(model, AEModel) else load_ae_model(model)


def ae_error_vectors(model: AEModel | str | Path, clips: Sequence[Clip]) -> Iterator[np.ndarray]:
    """Reconstruction errors (input minus reconstruction) of each clip in turn: ``(T', dim)`` float32 arrays."""
    m = _model(model)
    frontend = ae_frontend(m.params.features)
    for clip in clips:
        x = torch.from_numpy(clip_vectors(clip, m.params.features, frontend=frontend))
        if len(x) == 0:
            raise DataError(f"{clip.path}: too short for one {m.params.features.frames}-frame vector")
        with torch.no_grad():
            yield (x - m.net(x)[0]).numpy()


def ae_clip_statistics(model: AEModel | str | Path, clips: Sequence[Clip]) -> np.ndarray:
    """``(N, 1 + n_mels)`` rows ``[mse, m]`` (:func:`~soundsentry.baselines.ae_scores.clip_statistics`)."""
    m = _model(model)
    n_mels = m.params.features.n_mels
    rows = [clip_statistics(e, n_mels) for e in ae_error_vectors(m, clips)]
    return np.stack(rows) if rows else np.empty((0, 1 + n_mels))


def unit_name(clip: Clip, unit: str) -> str:
    """Folder name of the model that scores ``clip``: ``<type>`` or ``<type>_section_<XX>``."""
    if unit not in UNITS:
        raise ConfigError(f"AE baseline: unit must be one of {', '.join(UNITS)}, got {unit!r}")
    return clip.machine_type if unit == "machine_type" else f"{clip.machine_type}_section_{clip.section}"


def ae_baseline_scores(
    clips: Sequence[Clip], out_dir: str | Path, params: AEParams | None = None, *, resume: bool = True
) -> dict[str, np.ndarray]:
    """Train the baseline per unit on the normal training clips and score every clip with both scores.

    Training clips get in-sample scores (the baseline itself scores test clips only). Models go to
    ``out_dir/models/<unit>/model.pt``; an existing model is reused when ``resume``.

    Returns:
        ``{"mse": (N,), "selective_mahalanobis": (N,)}`` float64 scores aligned with ``clips``, higher = more
        anomalous.
    """
    params = params or AEParams()
    by_unit: dict[str, list[int]] = defaultdict(list)
    for i, clip in enumerate(clips):
        by_unit[unit_name(clip, params.unit)].append(i)
    scores = {"mse": np.full(len(clips), np.nan), "selective_mahalanobis": np.full(len(clips), np.nan)}
    for name, members in sorted(by_unit.items()):
        train = [clips[i] for i in members if is_fit_clip(clips[i])]
        if not train:
            raise DataError(f"{name}: no normal training clips; the AE baseline trains one model per unit on them")
        path = fit_ae_unit(train, Path(out_dir) / "models" / name, params=params, resume=resume, unit=name)
        model = load_ae_model(path)
        stats = ae_clip_statistics(model, [clips[i] for i in members])
        idx = np.asarray(members)
        fit = np.array([is_fit_clip(clips[i]) for i in members])
        scores["mse"][idx] = AEMSEScorer().fit(stats[fit]).anomaly_score(stats)
        sections = np.array([clips[i].section for i in members])
        for section in np.unique(sections):
            if section not in model.covariances:
                raise DataError(f"{name}: section {section} has no training clips, so no covariances to score it")
            here = sections == section
            scorer = SelectiveMahalanobisScorer().fit(stats[here & fit], covariances=model.covariances[section])
            scores["selective_mahalanobis"][idx[here]] = scorer.anomaly_score(stats[here])
    return scores
