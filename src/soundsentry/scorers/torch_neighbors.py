"""k-NN and local outlier factor in PyTorch, so large embedding banks can be scored on a GPU (S4).

S4 found scikit-learn's LOF and GMM "too heavy on the CPU" and wished for GPU versions. ``knn_torch`` and
``lof_torch`` give the same numbers as ``knn`` and ``lof`` (up to float rounding) with brute-force distances in
blocks of rows, on ``device`` (CPU by default).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from soundsentry.registry import register_scorer
from soundsentry.scorers._torch import METRICS, check_device, check_dtype, nearest, to_tensor
from soundsentry.scorers.base import BaseScorer, check_choice, check_positive_int
from soundsentry.scorers.knn import _effective_k


@register_scorer("knn_torch")
class TorchKNNScorer(BaseScorer):
    """Distance to the k nearest training embeddings, as :class:`~soundsentry.scorers.knn.KNNScorer`, in PyTorch.

    Args:
        k: number of neighbours (clipped to the training size with a warning).
        metric: ``euclidean``, ``cosine`` (1 - cosine similarity) or ``manhattan``.
        aggregate: ``mean`` of the k distances, or ``kth`` / ``max``: the distance to the k-th nearest.
        device: where distances are computed (``cpu``, ``cuda``, ``cuda:1`` ...).
        dtype: ``float64`` (matches scikit-learn) or ``float32`` (faster on most GPUs).

    Attributes:
        k_: the number of neighbours actually used.
        bank_: (N, D) training embeddings.
    """

    aggregates = ("mean", "max", "kth")

    def __init__(
        self,
        k: int = 1,
        metric: str = "euclidean",
        aggregate: str = "mean",
        device: str = "cpu",
        dtype: str = "float64",
    ) -> None:
        self.k = k
        self.metric = metric
        self.aggregate = aggregate
        self.device = device
        self.dtype = dtype

    def check_params(self) -> None:
        check_choice(self._owner, "aggregate", self.aggregate, self.aggregates)
        check_device(self._owner, self.device)
        check_dtype(self._owner, self.dtype)
        check_positive_int(self._owner, "k", self.k)
        check_choice(self._owner, "metric", self.metric, METRICS)

    def _fit(self, X: np.ndarray) -> None:
        self.k_ = _effective_k(self._owner, int(self.k), X.shape[0])
        self.bank_ = X.copy()

    def _score(self, X: np.ndarray) -> np.ndarray:
        device, dtype = check_device(self._owner, self.device), check_dtype(self._owner, self.dtype)
        with torch.no_grad():
            dist, _ = nearest(to_tensor(X, device, dtype), to_tensor(self.bank_, device, dtype), self.k_, self.metric)
            score = dist.mean(dim=1) if self.aggregate == "mean" else dist[:, -1]
        return score.double().cpu().numpy()


@register_scorer("lof_torch")
class TorchLOFScorer(BaseScorer):
    """Local outlier factor (novelty mode), as :class:`~soundsentry.scorers.lof.LOFScorer`, in PyTorch.

    With k = ``n_neighbors_``, ``kdist(o)`` the distance from training point o to its k-th nearest other training
    point and ``N_k(p)`` the k nearest training points of p::

        reach(p, o) = max(d(p, o), kdist(o))
        lrd(p)      = 1 / (mean_{o in N_k(p)} reach(p, o) + 1e-10)
        score(x)    = LOF(x) = mean_{o in N_k(x)} lrd(o) / lrd(x)

    exactly scikit-learn's definition (including its 1e-10), so the scores agree up to float rounding.

    Args:
        n_neighbors: k; lowered to N - 1 (with a warning when it exceeds N) as scikit-learn does.
        metric: ``euclidean``, ``cosine`` or ``manhattan``.
        device: where distances are computed.
        dtype: ``float64`` (matches scikit-learn) or ``float32``.

    Attributes:
        n_neighbors_: the k actually used.
        bank_: (N, D) training embeddings.
        k_distance_: (N,) distance of each training point to its k-th nearest neighbour.
        lrd_: (N,) local reachability density of each training point.
    """

    min_train_samples = 2

    def __init__(
        self, n_neighbors: int = 20, metric: str = "euclidean", device: str = "cpu", dtype: str = "float64"
    ) -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.device = device
        self.dtype = dtype

    def check_params(self) -> None:
        check_device(self._owner, self.device)
        check_dtype(self._owner, self.dtype)
        check_choice(self._owner, "metric", self.metric, METRICS)
        check_positive_int(self._owner, "n_neighbors", self.n_neighbors)

    def _fit(self, X: np.ndarray) -> None:
        n = X.shape[0]
        if self.n_neighbors > n:
            warnings.warn(
                f"{self._owner}: n_neighbors={self.n_neighbors} but only {n} training embeddings; using {n - 1}",
                UserWarning,
                stacklevel=3,
            )
        k = max(1, min(int(self.n_neighbors), n - 1))
        device, dtype = check_device(self._owner, self.device), check_dtype(self._owner, self.dtype)
        with torch.no_grad():
            bank = to_tensor(X, device, dtype)
            dist, idx = nearest(bank, bank, k, self.metric, exclude_self=True)
            k_distance = dist[:, -1]
            lrd = self._reach_density(dist, idx, k_distance)
        self.n_neighbors_ = k
        self.bank_ = X.copy()
        self.k_distance_ = k_distance.double().cpu().numpy()
        self.lrd_ = lrd.double().cpu().numpy()

    @staticmethod
    def _reach_density(dist: torch.Tensor, idx: torch.Tensor, k_distance: torch.Tensor) -> torch.Tensor:
        return 1.0 / (torch.maximum(dist, k_distance[idx]).mean(dim=1) + 1e-10)

    def _score(self, X: np.ndarray) -> np.ndarray:
        device, dtype = check_device(self._owner, self.device), check_dtype(self._owner, self.dtype)
        with torch.no_grad():
            bank = to_tensor(self.bank_, device, dtype)
            dist, idx = nearest(to_tensor(X, device, dtype), bank, self.n_neighbors_, self.metric)
            lrd_x = self._reach_density(dist, idx, to_tensor(self.k_distance_, device, dtype))
            lof = (to_tensor(self.lrd_, device, dtype)[idx] / lrd_x[:, None]).mean(dim=1)
        return lof.double().cpu().numpy()
