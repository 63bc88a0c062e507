"""Chunk-level scoring: each chunk of a clip against the training chunks of its group, then one score per clip.

The clip-mean embedding hides a fault that lives in a few chunks of a clip (a click, a short rub). This scorer
fits any embedding scorer (``inner``) on the *chunk* embeddings of a group's training clips, scores each chunk of
a test clip, and pools the chunk scores of the clip: their ``mean``, their ``max``, or a ``quantile`` ``q``
(0.9: the 90th percentile, robust to one odd chunk). The S1 document compares "the test sample's embedding with
all the ID's embeddings of training data"; ``chunks:inner=knn_cosine;k=10,pool=mean`` is the chunk-level reading
of that sentence, the clip-mean embedding with ``knn_cosine:k=10`` the other.

The scorer keeps the estimator contract on chunk rows: ``fit(X)`` takes (N_chunks, D) training chunks and
``anomaly_score(X)`` gives one score per chunk row; :meth:`ChunkPoolScorer.pool_clips` then turns chunk scores into
clip scores. :func:`soundsentry.chunk_scoring.score_chunk_clips` does both for every group, training clips out
of fold (all chunks of a clip in the same fold).

Spec: ``chunks:inner=knn_cosine;k=1,pool=max`` (``;`` separates the inner scorer's options, as in
``domain_aware``).

``normalise=domain`` handles the domain shift of DCASE 2022-2024 (a few target training clips next to many source
ones): one inner scorer per domain, fitted on that domain's training chunks only; each domain's pooled clip
scores are z-normalised with the mean and standard deviation of its training clips' leave-one-clip-out pooled
scores; a clip's score is the smaller (more normal) of its per-domain scores. So a clip is judged against the
domain it resembles, on that domain's own scale, and the test clip's domain is never needed (deployment does not
know it). A domain with fewer than two training clips has no scale of its own: its chunks join the other
domain's bank.

``calibrate`` says how a domain's scale is measured. ``loo``: the leave-one-clip-out scores as they are. They
are biased when a domain has few clips: a held-out training clip meets a bank of n - 1 clips, a test clip the
bank of all n, so with the 4-5 target-domain clips of a DCASE section the target scale comes out too high and
every target-domain clip too normal (on the generated sets target normals then outrank source anomalies, the
source AUC of the 2022-2024 rule falls by 20 points). ``extrapolate`` measures the same scores once more with one
more clip left out (leave-two-out, bank of n - 2) and extrapolates the mean linearly to a bank of n:
``mean = 2 * mean(loo) - mean(l2o)``, the standard deviation is the leave-one-out one. A domain with many clips
gets a correction near 0; a domain of 2 clips has no leave-two-out bank and keeps its leave-one-out mean.

``shrink`` steadies the scale of a small domain. A standard deviation from the 4-5 held-out target clips of a
section is itself uncertain by a third or more, and every target clip's z-score inherits the error. With
``shrink=k > 0`` each domain other than the largest (most clips) takes
``std = sqrt(((n - 1) * std_own ** 2 + k * prior ** 2) / (n - 1 + k))`` (n: its held-out clips), where the prior
is the largest domain's standard deviation scaled by the ratio of the two domains' means (the same relative
spread): an estimate from n - 1 degrees of freedom pooled with a prior worth k clips. ``shrink=0`` (the default)
keeps each domain's own.

``blocks`` scores several feature groups of a window on their own. A window stacked from two front-ends
(:class:`~soundsentry.frontends.stack.Stack`: log-mel rows, then modulation rows) would otherwise have one
Euclidean distance dominated by whichever group has the larger values. ``blocks=2560`` (or ``2560/4160`` for
three groups) gives the columns where the next group starts (with ``flatten``, a front-end part of F rows in a
window of W frames spans F * W columns); each group gets its own banks, scale and clip scores exactly as a
scorer on those columns alone, and a clip's score is the mean of the groups' z-scores (so ``normalise=domain``
is required: it is what puts the groups on one scale).

``standardise=source`` rescales every column before the banks are built: minus its mean, divided by its
standard deviation over the source domain's training chunks (over all training chunks when none is marked
source); the test chunks get the same shift and scale. A Euclidean distance then weighs each column by how much
it varies in normal operation, not by its units: a column that a normal machine holds steady counts when it
moves. That suits a feature group whose columns vary by construction on very different scales (the modulation
part's slow bands, estimated from few periods, vary far more than its fast ones) and not one whose columns share
a unit and a meaning (the log-mel's dB rows, where it lifts steady background bins). With ``blocks``, give one
value per group joined by ``/`` (``standardise=none/source``) or one value for all groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from soundsentry.errors import ConfigError, DataError
from soundsentry.registry import register_scorer
from soundsentry.scorers.base import BaseScorer, check_choice, check_embeddings
from soundsentry.types import Domain

POOLS = ("mean", "max", "quantile")
NORMALISE = ("none", "domain")
CALIBRATE = ("loo", "extrapolate")
STANDARDISE = ("none", "source")
#: Training clips per domain used for the leave-one-clip-out statistics of ``normalise=domain`` (evenly spaced).
MAX_LOO_CLIPS = 32
#: At most this many leave-two-out fits per domain for ``calibrate=extrapolate`` (all pairs of a small domain).
MAX_L2O_FITS = 64


def inner_scorer(spec: str) -> BaseScorer:
    """A scorer from a nested spec whose options are separated by ``;`` (``knn_cosine;k=1``)."""
    from soundsentry.scorers.spec import create_scorer

    name, *options = str(spec).split(";")
    return create_scorer(f"{name}:{','.join(options)}" if options else name)


def pool_scores(chunk_scores: np.ndarray, chunk_clip: np.ndarray, n_clips: int, pool: str, q: float) -> np.ndarray:
    """(n_clips,) pooled scores of each clip's chunks; NaN for a clip without chunks.

    Args:
        chunk_scores: (M,) scores of the chunks.
        chunk_clip: (M,) index in ``[0, n_clips)`` of each chunk's clip.
        n_clips: number of clips.
        pool: ``mean``, ``max`` or ``quantile``.
        q: the quantile for ``quantile`` (in [0, 1]).
    """
    chunk_scores = np.asarray(chunk_scores, dtype=np.float64)
    chunk_clip = np.asarray(chunk_clip, dtype=np.int64)
    out = np.full(n_clips, np.nan)
    if chunk_scores.size == 0:
        return out
    order = np.argsort(chunk_clip, kind="stable")
    clips, starts = np.unique(chunk_clip[order], return_index=True)
    for clip, values in zip(clips, np.split(chunk_scores[order], starts[1:]), strict=True):
        if pool == "mean":
            out[clip] = values.mean()
        elif pool == "max":
            out[clip] = values.max()
        else:
            out[clip] = np.quantile(values, q)
    return out


#: Query and bank rows compared at once by :func:`_nearest_per_clip` (bounds the distance block to 64 MB).
_QUERY_BLOCK = 1024
_BANK_BLOCK = 8192


def _is_nearest_neighbour(scorer: BaseScorer) -> bool:
    """True for ``knn`` or ``knn_torch`` with ``k=1`` (Euclidean or cosine): the score is the distance to the
    nearest training row."""
    from soundsentry.scorers.knn import KNNScorer
    from soundsentry.scorers.torch_neighbors import TorchKNNScorer

    if type(scorer) is TorchKNNScorer:
        return int(scorer.k) == 1 and scorer.metric in ("euclidean", "cosine")
    return type(scorer) is KNNScorer and int(scorer.k) == 1


def _nearest_per_clip_torch(
    Q: np.ndarray, bank: np.ndarray, starts: np.ndarray, metric: str, device: str, dtype: str
) -> np.ndarray:
    """:func:`_nearest_per_clip` with the distances computed by PyTorch on ``device`` in ``dtype`` (a GPU for
    the leave-out statistics of a large bank; the same distances as ``knn_torch``)."""
    import torch

    from soundsentry.scorers._torch import DTYPES, pairwise_distances, row_blocks

    out = np.empty((len(Q), len(starts)))
    with torch.no_grad():
        B = torch.as_tensor(np.asarray(bank), dtype=DTYPES[dtype], device=device)
        queries = torch.as_tensor(np.asarray(Q), dtype=DTYPES[dtype], device=device)
        sizes = torch.as_tensor(np.diff(np.append(starts, len(bank))), device=device)
        column_clip = torch.repeat_interleave(torch.arange(len(starts), device=device), sizes)
        for rows in row_blocks(len(Q), len(bank)):
            dist = pairwise_distances(queries[rows], B, metric)
            nearest = torch.full((dist.shape[0], len(starts)), float("inf"), dtype=dist.dtype, device=device)
            nearest.scatter_reduce_(1, column_clip.expand_as(dist), dist, reduce="amin")  # per clip, one kernel
            out[rows] = nearest.double().cpu().numpy()
    return out


def _nearest_per_clip(Q: np.ndarray, bank: np.ndarray, starts: np.ndarray, metric: str) -> np.ndarray:
    """(len(Q), n_clips) distance of each row of ``Q`` to the nearest row of each bank clip (``bank`` sorted by
    clip, clip i's rows starting at ``starts[i]``); ``metric`` is ``euclidean`` or ``cosine`` as in ``knn``."""
    Q, bank = np.asarray(Q, dtype=np.float64), np.asarray(bank, dtype=np.float64)
    if metric == "cosine":
        Q, bank = _unit(Q), _unit(bank)
    bank_sq = np.einsum("ij,ij->i", bank, bank)
    out = np.empty((Q.shape[0], starts.size))
    bounds = np.append(starts, bank.shape[0])
    for row in range(0, Q.shape[0], _QUERY_BLOCK):
        q = Q[row : row + _QUERY_BLOCK]
        q_sq = np.einsum("ij,ij->i", q, q)
        first = 0
        while first < starts.size:  # whole clips per block
            last = max(int(np.searchsorted(bounds, bounds[first] + _BANK_BLOCK, side="right")) - 1, first + 1)
            lo, hi = bounds[first], bounds[last]
            dot = q @ bank[lo:hi].T
            if metric == "cosine":
                dist = 1.0 - dot
            else:
                dist = np.sqrt(np.maximum(q_sq[:, None] + bank_sq[None, lo:hi] - 2.0 * dot, 0.0))
            out[row : row + _QUERY_BLOCK, first:last] = np.minimum.reduceat(dist, bounds[first:last] - lo, axis=1)
            first = last
    return out


def _unit(X: np.ndarray) -> np.ndarray:
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), np.finfo(np.float64).tiny)


def _evenly_spaced(clip_ids: np.ndarray, n: int) -> np.ndarray:
    """At most ``n`` of ``clip_ids``, evenly spaced (all of them when there are ``n`` or fewer)."""
    if clip_ids.size < 2:
        return clip_ids[:0]
    return clip_ids[np.unique(np.linspace(0, clip_ids.size - 1, min(n, clip_ids.size)).round().astype(np.int64))]


def _l2o_pairs(clip_ids: np.ndarray, chosen: np.ndarray) -> list[tuple[int, int]]:
    """(scored clip, second clip left out) pairs: each chosen clip with the next clips after it, cyclically, so
    that a small domain uses every ordered pair and a large one at most :data:`MAX_L2O_FITS` fits."""
    per_clip = max(1, min(clip_ids.size - 1, MAX_L2O_FITS // max(chosen.size, 1)))
    position = {int(c): i for i, c in enumerate(clip_ids)}
    return [
        (int(c), int(clip_ids[(position[int(c)] + step) % clip_ids.size]))
        for c in chosen
        for step in range(1, per_clip + 1)
    ]


@register_scorer("chunks")
class ChunkPoolScorer(BaseScorer):
    """Fits ``inner`` on training chunks; scores chunks; :meth:`pool_clips` makes one score per clip.

    Args:
        inner: spec of the chunk scorer, options separated by ``;`` (``knn_cosine;k=1``, ``knn;k=1``).
        pool: how a clip's chunk scores become its score: ``mean``, ``max`` or ``quantile``.
        q: the quantile of ``pool=quantile`` (0.9 = 90th percentile).
        normalise: ``none`` (one bank) or ``domain`` (one bank per domain, scores on each domain's own scale).
        calibrate: how ``normalise=domain`` measures a domain's scale: ``loo`` (leave-one-clip-out) or
            ``extrapolate`` (leave-one-out corrected to the full bank size with a leave-two-out fit).
        shrink: with ``normalise=domain``, the weight (in clips) of the prior that steadies the standard deviation
            of the smaller domains (0: off; see the module doc).
        blocks: column(s) where a new feature group of the window starts (an int, or ints joined by ``/``):
            each group scored on its own, the clip score the mean of the groups' z-scores (needs
            ``normalise=domain``); None: one group.
        standardise: ``none`` or ``source`` (each column scaled by its spread over the source domain's training
            chunks before any distance; see the module doc); with ``blocks``, one value per group joined by ``/``
            or one value for all.

    Attributes:
        inner_: the fitted inner scorer (``normalise=none``).
        banks_: with ``normalise=domain``, one ``(domain, scorer, mean, std)`` per domain.
        calibration_: with ``normalise=domain``, per domain the leave-one-out and leave-two-out mean scores and
            the number of clips behind them (what ``calibrate`` used), and with ``shrink`` the standard deviation
            used.
        parts_: with ``blocks``, one fitted scorer per feature group (its columns in ``column_groups_``).
        centre_, scale_: with ``standardise=source`` (and no ``blocks``), the (D,) column means and standard
            deviations every chunk is standardised with.
    """

    #: The score stage gives this scorer chunk embeddings and pools its scores per clip.
    input_kind = "chunks"

    def __init__(
        self,
        inner: str = "knn_cosine;k=1",
        pool: str = "mean",
        q: float = 0.9,
        normalise: str = "none",
        calibrate: str = "loo",
        shrink: float = 0.0,
        blocks: int | str | None = None,
        standardise: str = "none",
    ) -> None:
        self.inner = inner
        self.pool = pool
        self.q = q
        self.normalise = normalise
        self.calibrate = calibrate
        self.shrink = shrink
        self.blocks = blocks
        self.standardise = standardise

    def check_params(self) -> None:
        try:
            probe = inner_scorer(self.inner)
        except ConfigError as err:
            raise ConfigError(f"{self._owner}: inner: {err}") from None
        if getattr(probe, "input_kind", "embedding") != "embedding":
            raise ConfigError(f"{self._owner}: inner must score embeddings, got {self.inner!r}")
        check_choice(self._owner, "pool", self.pool, POOLS)
        check_choice(self._owner, "normalise", self.normalise, NORMALISE)
        check_choice(self._owner, "calibrate", self.calibrate, CALIBRATE)
        if self.calibrate != "loo" and self.normalise != "domain":
            raise ConfigError(
                f"{self._owner}: calibrate={self.calibrate} needs normalise=domain (it sets each domain's scale)"
            )
        if self.normalise == "domain" and getattr(probe, "uses_domains", False):
            raise ConfigError(f"{self._owner}: normalise=domain splits the domains itself; use a plain inner scorer")
        if isinstance(self.q, bool) or not isinstance(self.q, int | float) or not 0.0 <= float(self.q) <= 1.0:
            raise ConfigError(f"{self._owner}: q must be a number in [0, 1] (0.9 = 90th percentile), got {self.q!r}")
        if isinstance(self.shrink, bool) or not isinstance(self.shrink, int | float) or not self.shrink >= 0:
            raise ConfigError(f"{self._owner}: shrink must be a number >= 0 (0 = off, 4 = a prior worth 4 clips)")
        if self.shrink and self.normalise != "domain":
            raise ConfigError(
                f"{self._owner}: shrink={self.shrink} needs normalise=domain (it steadies a domain's scale)"
            )
        if self.block_starts() and self.normalise != "domain":
            raise ConfigError(
                f"{self._owner}: blocks needs normalise=domain (the groups' z-scores are what puts them on one scale)"
            )
        self.group_standardise()

    def group_standardise(self) -> list[str]:
        """``standardise`` for each feature group of ``blocks`` (one entry without ``blocks``)."""
        n_groups = len(self.block_starts()) + 1
        values = str(self.standardise).split("/")
        if len(values) == 1:
            values = values * n_groups
        if len(values) != n_groups or any(v not in STANDARDISE for v in values):
            groups = f"{n_groups} group{'s' if n_groups > 1 else ''} here"
            example = "/".join(["none"] * (n_groups - 1) + ["source"])
            raise ConfigError(
                f"{self._owner}: standardise must be one of {', '.join(STANDARDISE)}, or one per feature group of "
                f"blocks joined by '/' ({groups}, e.g. {example}), got {self.standardise!r}"
            )
        return values

    def block_starts(self) -> list[int]:
        """The columns where ``blocks`` starts a new feature group (empty: one group)."""
        if self.blocks is None:
            return []
        text = str(self.blocks)
        try:
            starts = [int(part) for part in text.split("/")]
        except ValueError:
            starts = []
        if isinstance(self.blocks, bool) or not starts or min(starts) < 1 or starts != sorted(set(starts)):
            raise ConfigError(
                f"{self._owner}: blocks must be increasing positive column numbers joined by '/' (e.g. 2560 or "
                f"2560/4160), got {self.blocks!r}"
            )
        return starts

    @property
    def uses_domains(self) -> bool:
        """True when the inner scorer (or ``normalise=domain``) needs the chunks' domains."""
        return self.normalise == "domain" or bool(getattr(inner_scorer(self.inner), "uses_domains", False))

    @property
    def wants_clip_index(self) -> bool:
        """True when ``fit`` needs each training chunk's clip (``normalise=domain``: leave-one-clip-out)."""
        return self.normalise == "domain"

    @property
    def wants_centres(self) -> bool:
        """True when the inner scorer needs learned centres."""
        return bool(getattr(inner_scorer(self.inner), "wants_centres", False))

    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        domains: Sequence[Domain] | None = None,
        clip_index: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> ChunkPoolScorer:
        """Fit on training chunk embeddings ``X: (N_chunks, D)``.

        Args:
            X: training chunk embeddings.
            y: ignored.
            domains: one domain per chunk (needed by ``normalise=domain`` and by a domain-aware inner scorer).
            clip_index: one clip id per chunk (needed by ``normalise=domain``).
            **kwargs: passed on to the inner scorer (``centres``).
        """
        self.check_params()
        X = check_embeddings(X, owner=self._owner, what="training chunk embeddings", min_samples=1)
        self.centre_ = self.scale_ = None
        starts = self.block_starts()
        if starts:
            if starts[-1] >= X.shape[1]:
                raise ConfigError(
                    f"{self._owner}: blocks {self.blocks} starts a group at column {starts[-1]} but the chunk "
                    f"embeddings have {X.shape[1]} columns; set blocks from the front-end's rows x the window's frames"
                )
            edges = [0, *starts, X.shape[1]]
            self.column_groups_ = [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
            params = {**self.get_params(), "blocks": None}
            self.parts_ = [
                ChunkPoolScorer(**{**params, "standardise": how}).fit(
                    X[:, a:b], domains=domains, clip_index=clip_index, **kwargs
                )
                for (a, b), how in zip(self.column_groups_, self.group_standardise(), strict=True)
            ]
        else:
            if self.standardise == "source":
                X = self._fit_standardise(X, domains)
            if self.normalise == "domain":
                self._fit_domains(X, domains, clip_index, kwargs)
            else:
                if domains is not None and getattr(inner_scorer(self.inner), "uses_domains", False):
                    kwargs["domains"] = domains
                self.inner_ = inner_scorer(self.inner).fit(X, **kwargs)
        self.n_samples_fit_ = X.shape[0]
        self.n_features_in_ = X.shape[1]
        return self

    def _fit_standardise(self, X: np.ndarray, domains: Sequence[Domain] | None) -> np.ndarray:
        """Column means and spreads of the source domain's training chunks (all chunks when none is source);
        returns ``X`` standardised with them."""
        rows = np.ones(X.shape[0], dtype=bool)
        if domains is not None:
            if len(domains) != X.shape[0]:
                raise DataError(f"{self._owner}: {X.shape[0]} training chunks but {len(domains)} domains")
            source = np.array([Domain(d) is Domain.SOURCE for d in domains])
            if source.any():
                rows = source
        normal = X if rows.all() else X[rows]
        self.centre_ = normal.mean(axis=0)
        spread = normal.std(axis=0)
        typical = float(np.median(spread))
        # a column that never moves in normal operation would divide by ~0: floor at 1 % of the typical spread
        self.scale_ = np.maximum(spread, 0.01 * typical if typical > 0 else 1.0)
        return self._standardised(X)

    def _standardised(self, X: np.ndarray) -> np.ndarray:
        if getattr(self, "centre_", None) is None:
            return X
        return (X - self.centre_) / self.scale_

    def _fit_domains(
        self, X: np.ndarray, domains: Sequence[Domain] | None, clip_index: Sequence[int] | None, kwargs: dict
    ) -> None:
        n = X.shape[0]
        doms = np.array([Domain(d).value for d in domains] if domains is not None else [Domain.SOURCE.value] * n)
        owner = np.asarray(clip_index if clip_index is not None else np.arange(n), dtype=np.int64)
        if len(doms) != n or len(owner) != n:
            raise DataError(f"{self._owner}: {n} training chunks but {len(doms)} domains and {len(owner)} clip ids")
        clips_of = {d: np.unique(owner[doms == d]) for d in np.unique(doms)}
        small = [d for d, c in clips_of.items() if c.size < 2]
        if small and len(clips_of) > 1:  # too few clips for a scale of its own: joins the other domain's bank
            large = [d for d in clips_of if d not in small]
            doms = np.where(np.isin(doms, small), large[0] if large else sorted(clips_of)[0], doms)
            clips_of = {d: np.unique(owner[doms == d]) for d in np.unique(doms)}
        self.banks_, self.calibration_ = [], {}
        held_out = {}
        for d in sorted(clips_of):
            rows = doms == d
            scorer = inner_scorer(self.inner).fit(X[rows], **kwargs)
            chosen = _evenly_spaced(clips_of[d], MAX_LOO_CLIPS)
            loo = self._held_out_scores(X[rows], owner[rows], [(c,) for c in chosen], kwargs)
            if loo.size < 2:
                self.banks_.append((d, scorer, 0.0, 1.0))
                continue
            mean, std = float(loo.mean()), float(max(loo.std(), 1e-12))
            record = {"loo_mean": mean, "loo_std": std, "n_clips": int(clips_of[d].size)}
            if self.calibrate == "extrapolate" and clips_of[d].size >= 3:
                l2o = self._held_out_scores(X[rows], owner[rows], _l2o_pairs(clips_of[d], chosen), kwargs)
                record["l2o_mean"] = float(l2o.mean())
                mean = 2.0 * mean - float(l2o.mean())  # linear extrapolation from banks of n - 2, n - 1 to n clips
            self.calibration_[str(d)] = record
            held_out[d] = loo.size
            self.banks_.append((d, scorer, mean, std))
        if self.shrink and len(held_out) > 1:
            self._shrink_scales(held_out)

    def _shrink_scales(self, held_out: dict[str, int]) -> None:
        """Pool each smaller domain's standard deviation with the largest domain's relative spread (``shrink``)."""
        reference = max(held_out, key=lambda d: (held_out[d], d))
        _, _, ref_mean, ref_std = next(b for b in self.banks_ if b[0] == reference)
        if ref_mean <= 0:  # no relative spread to carry over (distances are positive; a guard, not a case)
            return
        weight = float(self.shrink)
        for i, (d, scorer, mean, std) in enumerate(self.banks_):
            if d == reference or d not in held_out:
                continue
            prior = ref_std * max(mean, 0.0) / ref_mean
            dof = held_out[d] - 1
            std = float(max(np.sqrt((dof * std**2 + weight * prior**2) / (dof + weight)), 1e-12))
            self.calibration_[str(d)]["std"] = std
            self.banks_[i] = (d, scorer, mean, std)

    def _held_out_scores(
        self, X: np.ndarray, owner: np.ndarray, held_out: Sequence[tuple[int, ...]], kwargs: dict
    ) -> np.ndarray:
        """Pooled score of each tuple's first clip against a bank without any clip of the tuple."""
        probe = inner_scorer(self.inner)
        if _is_nearest_neighbour(probe):  # one distance pass per scored clip instead of one refit per tuple
            return self._held_out_nearest(probe, X, owner, held_out)
        values = []
        for clips in held_out:
            scored = owner == clips[0]
            scorer = inner_scorer(self.inner).fit(X[~np.isin(owner, clips)], **kwargs)
            values.append(self._pool_one(np.asarray(scorer.anomaly_score(X[scored]), dtype=np.float64)))
        return np.array(values)

    def _held_out_nearest(
        self, probe: BaseScorer, X: np.ndarray, owner: np.ndarray, held_out: Sequence[tuple[int, ...]]
    ) -> np.ndarray:
        """:meth:`_held_out_scores` for a 1-nearest-neighbour inner scorer: the distance of each chunk to the
        nearest chunk of every clip, then the minimum over the clips left in the bank (same numbers as a refit)."""
        from soundsentry.scorers.torch_neighbors import TorchKNNScorer

        order = np.argsort(owner, kind="stable")
        clip_ids, starts = np.unique(owner[order], return_index=True)
        column = {int(c): i for i, c in enumerate(clip_ids)}
        scored = np.unique([int(t[0]) for t in held_out])
        rows = np.isin(owner, scored)
        if isinstance(probe, TorchKNNScorer):  # on its device and in its dtype
            nearest = _nearest_per_clip_torch(X[rows], X[order], starts, probe.metric, probe.device, probe.dtype)
        else:  # all scored clips in one pass
            nearest = _nearest_per_clip(X[rows], X[order], starts, probe.metric)
        values = []
        for clips in held_out:
            keep = np.ones(clip_ids.size, dtype=bool)
            keep[[column[int(c)] for c in clips]] = False
            values.append(self._pool_one(nearest[owner[rows] == clips[0]][:, keep].min(axis=1)))
        return np.array(values)

    def _pool_one(self, values: np.ndarray) -> float:
        return float(pool_scores(values, np.zeros(len(values), dtype=np.int64), 1, self.pool, float(self.q))[0])

    def anomaly_score(self, X: Any, *, domains: Sequence[Domain] | None = None) -> np.ndarray:
        """(M,) chunk scores of chunk embeddings ``X: (M, D)``, higher = more anomalous."""
        X = self._check_test_input(X, "test chunk embeddings")
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        if self.block_starts():
            groups = zip(self.parts_, self.column_groups_, strict=True)
            return np.mean([p.anomaly_score(X[:, a:b]) for p, (a, b) in groups], axis=0)
        X = self._standardised(X)
        if self.normalise == "domain":  # per chunk: the smaller of the domain-normalised chunk scores
            return np.min([(s.anomaly_score(X) - mean) / std for _, s, mean, std in self.banks_], axis=0)
        if domains is not None and getattr(self.inner_, "uses_domains", False):
            return np.asarray(self.inner_.anomaly_score(X, domains=domains), dtype=np.float64)
        return np.asarray(self.inner_.anomaly_score(X), dtype=np.float64)

    def pool_clips(self, chunk_scores: np.ndarray, chunk_clip: np.ndarray, n_clips: int) -> np.ndarray:
        """(n_clips,) clip scores from chunk scores (see :func:`pool_scores`)."""
        return pool_scores(chunk_scores, chunk_clip, n_clips, self.pool, float(self.q))

    def score_clips(
        self, X: Any, chunk_clip: np.ndarray, n_clips: int, *, domains: Sequence[Domain] | None = None
    ) -> np.ndarray:
        """(n_clips,) clip scores of the chunk embeddings ``X: (M, D)`` of ``n_clips`` clips (``chunk_clip``: each
        chunk's clip in ``[0, n_clips)``): pooled chunk scores, or with ``normalise=domain`` the smaller of the
        per-domain pooled, z-normalised scores."""
        if self.normalise != "domain":
            return self.pool_clips(self.anomaly_score(X, domains=domains), chunk_clip, n_clips)
        X = self._check_test_input(X, "test chunk embeddings")
        if self.block_starts():
            groups = zip(self.parts_, self.column_groups_, strict=True)
            return np.mean([p.score_clips(X[:, a:b], chunk_clip, n_clips) for p, (a, b) in groups], axis=0)
        X = self._standardised(X)
        per_domain = [
            (self.pool_clips(np.asarray(s.anomaly_score(X), dtype=np.float64), chunk_clip, n_clips) - mean) / std
            for _, s, mean, std in self.banks_
        ]
        return np.min(per_domain, axis=0)

    def _fit(self, X: np.ndarray) -> None:  # fit is overridden: it passes keyword arguments on
        self.fit(X)

    def _score(self, X: np.ndarray) -> np.ndarray:  # anomaly_score is overridden: it passes domains on
        return self.anomaly_score(X)
