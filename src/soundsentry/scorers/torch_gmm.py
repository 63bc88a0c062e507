"""Gaussian mixture scorer in PyTorch (EM, full or diagonal covariances), for large banks on a GPU (S4).

The EM loop is scikit-learn's ``GaussianMixture`` step for step (same M-step with ``reg_covar`` on the diagonals,
the same ``10 * eps`` added to the component counts, the same stopping rule on the change of the mean
log-likelihood), so from the same initial parameters both reach the same mixture up to float rounding. Without
explicit initial parameters the responsibilities start from k-means (k-means++ seeding with ``random_state``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

from soundsentry.errors import ConfigError, DataError
from soundsentry.registry import register_scorer
from soundsentry.scorers._torch import check_device, check_dtype, to_tensor
from soundsentry.scorers.base import BaseScorer, check_choice, check_positive_int


def _kmeans_labels(X: torch.Tensor, k: int, seed: int, n_iter: int = 100) -> torch.Tensor:
    """Hard k-means labels (N,): k-means++ seeding (CPU generator, so every device draws the same), Lloyd steps."""
    gen = torch.Generator().manual_seed(seed)
    centres = [X[int(torch.randint(X.shape[0], (1,), generator=gen))]]
    closest = torch.cdist(X, centres[0][None]).squeeze(1) ** 2
    for _ in range(1, k):
        probs = (closest / closest.sum()).cpu() if closest.sum() > 0 else torch.full((X.shape[0],), 1.0 / X.shape[0])
        centres.append(X[int(torch.multinomial(probs.float(), 1, generator=gen))])
        closest = torch.minimum(closest, torch.cdist(X, centres[-1][None]).squeeze(1) ** 2)
    c = torch.stack(centres)
    labels = torch.cdist(X, c).argmin(dim=1)
    for _ in range(n_iter):
        counts = torch.bincount(labels, minlength=k).to(X.dtype)
        sums = torch.zeros_like(c).index_add_(0, labels, X)
        c = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], c)
        new = torch.cdist(X, c).argmin(dim=1)
        if torch.equal(new, labels):
            break
        labels = new
    return labels


@register_scorer("gmm_torch")
class TorchGMMScorer(BaseScorer):
    """score(x) = -log p(x) under a Gaussian mixture fitted by EM in PyTorch; ``gmm`` on a GPU.

    Args:
        n_components: mixture components K; needs at least K training embeddings.
        covariance_type: ``full`` or ``diag``.
        reg_covar: added to the covariance diagonals, keeps them invertible when N < D.
        max_iter: most EM iterations.
        tol: EM stops when the mean log-likelihood changes by less than this.
        random_state: seed of the k-means initialisation.
        weights_init: optional (K,) initial mixture weights, as in scikit-learn.
        means_init: optional (K, D) initial means.
        precisions_init: optional initial precisions (inverse covariances): (K, D, D) for ``full``, (K, D) for
            ``diag``.
        device: where EM and scoring run (``cpu``, ``cuda`` ...).
        dtype: ``float64`` (matches scikit-learn) or ``float32``.

    Attributes:
        weights_, means_, covariances_: the fitted mixture (numpy).
        converged_, n_iter_, lower_bound_: EM diagnostics, as in scikit-learn.
    """

    covariance_types = ("full", "diag")

    def __init__(
        self,
        n_components: int = 1,
        covariance_type: str = "full",
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        tol: float = 1e-3,
        random_state: int = 0,
        weights_init: Any = None,
        means_init: Any = None,
        precisions_init: Any = None,
        device: str = "cpu",
        dtype: str = "float64",
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.device = device
        self.dtype = dtype

    def check_params(self) -> None:
        check_choice(self._owner, "covariance_type", self.covariance_type, self.covariance_types)
        check_device(self._owner, self.device)
        check_dtype(self._owner, self.dtype)
        check_positive_int(self._owner, "max_iter", self.max_iter)
        check_positive_int(self._owner, "n_components", self.n_components)
        for name in ("reg_covar", "tol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
                raise ConfigError(f"{self._owner}: {name} must be a number >= 0, got {value!r}")
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, numbers.Integral):
            raise ConfigError(f"{self._owner}: random_state must be an integer, got {self.random_state!r}")

    # --- EM pieces ------------------------------------------------------------------------------------------
    def _m_step(self, X: torch.Tensor, resp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        nk = resp.sum(dim=0) + 10 * torch.finfo(resp.dtype).eps
        means = resp.T @ X / nk[:, None]
        if self.covariance_type == "full":
            eye = torch.eye(X.shape[1], dtype=X.dtype, device=X.device)
            covs = torch.stack(
                [((resp[:, j, None] * (X - means[j])).T @ (X - means[j])) / nk[j] for j in range(nk.shape[0])]
            )
            covs = covs + self.reg_covar * eye
        else:
            covs = torch.stack([(resp[:, j, None] * (X - means[j]) ** 2).sum(0) / nk[j] for j in range(nk.shape[0])])
            covs = covs + self.reg_covar
        return nk / nk.sum(), means, covs

    def _log_gaussians(self, X: torch.Tensor, means: torch.Tensor, covs: torch.Tensor) -> torch.Tensor:
        """log N(x | mu_k, Sigma_k) for every row and component, (N, K)."""
        D = X.shape[1]
        out = []
        for j in range(means.shape[0]):
            diff = X - means[j]
            if self.covariance_type == "full":
                chol, info = torch.linalg.cholesky_ex(covs[j])
                if info.item() != 0:
                    raise DataError(
                        f"{self._owner}: covariance of component {j} is not positive definite; "
                        "raise reg_covar, lower n_components or use covariance_type='diag'"
                    )
                z = torch.linalg.solve_triangular(chol, diff.T, upper=False)
                maha, log_det = (z * z).sum(dim=0), 2.0 * torch.log(torch.diagonal(chol)).sum()
            else:
                maha, log_det = (diff * diff / covs[j]).sum(dim=1), torch.log(covs[j]).sum()
            out.append(-0.5 * (D * math.log(2 * math.pi) + log_det + maha))
        return torch.stack(out, dim=1)

    def _log_likelihood(self, X: torch.Tensor, weights: torch.Tensor, means: torch.Tensor, covs: torch.Tensor):
        weighted = self._log_gaussians(X, means, covs) + torch.log(weights)
        norm = torch.logsumexp(weighted, dim=1)
        return norm, weighted - norm[:, None]

    def _initial(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        K, D = int(self.n_components), X.shape[1]
        labels = _kmeans_labels(X, K, int(self.random_state))
        resp = torch.nn.functional.one_hot(labels, K).to(X.dtype)
        weights, means, covs = self._m_step(X, resp)
        cov_shape = (K, D, D) if self.covariance_type == "full" else (K, D)
        for name, shape in (("weights_init", (K,)), ("means_init", (K, D)), ("precisions_init", cov_shape)):
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.asarray(value, dtype=np.float64)
            if arr.shape != shape:
                raise ConfigError(f"{self._owner}: {name} must have shape {shape}, got {arr.shape}")
            t = to_tensor(arr, X.device, X.dtype)
            if name == "weights_init":
                weights = t
            elif name == "means_init":
                means = t
            else:
                covs = torch.linalg.inv(t) if self.covariance_type == "full" else 1.0 / t
        return weights, means, covs

    # --- scorer hooks ---------------------------------------------------------------------------------------
    def _fit(self, X: np.ndarray) -> None:
        if X.shape[0] < self.n_components:
            raise DataError(
                f"{self._owner}: n_components={self.n_components} needs at least as many training embeddings, "
                f"got {X.shape[0]}; lower n_components or add training clips"
            )
        device, dtype = check_device(self._owner, self.device), check_dtype(self._owner, self.dtype)
        with torch.no_grad():
            Xt = to_tensor(X, device, dtype)
            weights, means, covs = self._initial(Xt)
            lower_bound, converged, n_iter = -math.inf, False, 0
            for n_iter in range(1, int(self.max_iter) + 1):  # noqa: B007  (n_iter is reported after the loop)
                previous = lower_bound
                norm, log_resp = self._log_likelihood(Xt, weights, means, covs)
                weights, means, covs = self._m_step(Xt, log_resp.exp())
                lower_bound = float(norm.mean())
                if abs(lower_bound - previous) < self.tol:
                    converged = True
                    break
        self.weights_ = weights.double().cpu().numpy()
        self.means_ = means.double().cpu().numpy()
        self.covariances_ = covs.double().cpu().numpy()
        self.converged_, self.n_iter_, self.lower_bound_ = converged, n_iter, lower_bound

    def _score(self, X: np.ndarray) -> np.ndarray:
        device, dtype = check_device(self._owner, self.device), check_dtype(self._owner, self.dtype)
        with torch.no_grad():
            params = (to_tensor(a, device, dtype) for a in (self.weights_, self.means_, self.covariances_))
            norm, _ = self._log_likelihood(to_tensor(X, device, dtype), *params)
        return (-norm).double().cpu().numpy()
