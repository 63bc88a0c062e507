"""Learned sub-cluster centres of one (machine type, section), each row tagged with the domain of its class.

S3 (DCASE 2021 sec. 2.3) trains C = 84 classes, section x domain (7 types x 6 sections x 2 domains), with S
sub-clusters each; sec. 2.5 fits the source GMM of a section "using learned sub-cluster centers as initial mean
vectors". With ``train.classes: section_domain`` a section has a source and a target class, so its centres are
``2 S`` rows: the source GMM must start from the S source rows only, a target model from the target rows.
:class:`GroupCentres` carries the rows and their domains; the domain-aware scorer picks a domain's rows with
:meth:`GroupCentres.of`, and any other scorer with ``init=centres`` sees every row (``np.asarray``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from soundsentry.errors import DataError
from soundsentry.types import Domain


@dataclass(frozen=True, eq=False)
class GroupCentres:
    """A group's learned centres, class by class, and the domain of each row's class.

    Attributes:
        means: (K, D) centres (K = sub-clusters x the group's classes).
        domains: K domains: ``SOURCE`` / ``TARGET`` for classes keyed by domain (``train.classes:
            section_domain`` or ``attributes``), ``UNKNOWN`` for a class without one (``train.classes: section``).
    """

    means: np.ndarray
    domains: tuple[Domain, ...]

    def __post_init__(self) -> None:
        means = np.asarray(self.means)
        if means.ndim != 2 or len(self.domains) != means.shape[0]:
            raise DataError(
                f"centres need (K, D) rows and one domain per row, got {means.shape} and {len(self.domains)} domains"
            )

    @classmethod
    def untagged(cls, means: np.ndarray) -> GroupCentres:
        """Centres of classes without a domain (``train.classes: section``)."""
        return cls(np.asarray(means), (Domain.UNKNOWN,) * int(np.asarray(means).shape[0]))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.asarray(self.means).shape)

    def __len__(self) -> int:
        return len(self.domains)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """Every row: a scorer fitted on all training clips of the group starts from all its classes' centres."""
        return np.array(self.means, dtype=dtype, copy=True if copy else None)

    def of(self, domain: Domain) -> np.ndarray:
        """(K', D) the rows of ``domain``'s classes; every row when no class carries a domain.

        Raises:
            DataError: the classes carry domains but none is ``domain`` (no training clip of that domain reached
                the head).
        """
        tagged = np.array([d is not Domain.UNKNOWN for d in self.domains], dtype=bool)
        if not tagged.any():
            return np.asarray(self.means)
        rows = np.array([d is domain for d in self.domains], dtype=bool)
        if not rows.any():
            have = ", ".join(sorted({d.value for d in self.domains}))
            raise DataError(
                f"the head has no {domain.value} class for this section (its centres are {have}); train on "
                f"{domain.value} clips of the section, or use a {domain.value} scorer without init=centres"
            )
        return np.asarray(self.means)[rows]


def domain_of_class(key: str, base: str) -> Domain:
    """The domain in a class key that extends ``base`` (``fan/00/target/...`` -> TARGET); ``UNKNOWN`` for
    ``base`` itself or a key without a domain after it."""
    if key == base:
        return Domain.UNKNOWN
    head = key[len(base) + 1 :].split("/", 1)[0]
    return Domain(head) if head in (Domain.SOURCE.value, Domain.TARGET.value) else Domain.UNKNOWN


def centres_for(centres: Any, domain: Domain) -> Any:
    """``centres`` restricted to ``domain`` when they are :class:`GroupCentres`; other arrays unchanged."""
    return centres.of(domain) if isinstance(centres, GroupCentres) else centres


def tag_rows(per_class: np.ndarray, keys: Sequence[str], base: str) -> GroupCentres:
    """:class:`GroupCentres` of a group from its classes' (C', S, D) centres and their class keys."""
    per_class = np.asarray(per_class)
    domains = tuple(domain_of_class(k, base) for k in keys for _ in range(per_class.shape[1]))
    return GroupCentres(per_class.reshape(-1, per_class.shape[-1]), domains)
