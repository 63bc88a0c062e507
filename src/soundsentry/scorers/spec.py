"""Scorer specs: one string naming a registered scorer and its keyword arguments.

Form: ``name`` or ``name:key=value,key=value``, e.g. ``knn_cosine:k=10`` or ``gmm:n_components=4,covariance_type=diag``.
Values are typed: ``10`` -> int, ``0.5`` / ``1e-3`` -> float, ``true`` / ``false`` -> bool, ``none`` -> None,
anything else is a string. Spaces around names, keys and values are ignored.
"""

from __future__ import annotations

import re
from typing import Any

from soundsentry.errors import ConfigError
from soundsentry.registry import SCORERS
from soundsentry.scorers.base import BaseScorer

EXPECTED_FORM = "name:key=value,key=value (e.g. knn_cosine:k=10)"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")


def _malformed(spec: str, reason: str) -> ConfigError:
    return ConfigError(f"malformed scorer spec {spec!r}: {reason}; expected {EXPECTED_FORM}")


def _typed(text: str) -> Any:
    """The int, float, bool, None or string that ``text`` spells."""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    return text


def parse_scorer_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split a scorer spec into its name and typed keyword arguments.

    Only the syntax is checked here; :func:`create_scorer` checks the name and keywords against the registry.

    Example:
        >>> parse_scorer_spec("knn:k=5,metric=cosine")
        ('knn', {'k': 5, 'metric': 'cosine'})
    """
    if not isinstance(spec, str):
        raise ConfigError(f"a scorer spec must be a string, got {type(spec).__name__}; expected {EXPECTED_FORM}")
    name, sep, rest = spec.partition(":")
    name = name.strip()
    if not _IDENTIFIER.fullmatch(name):
        raise _malformed(spec, f"scorer name {name!r} is not a name")
    kwargs: dict[str, Any] = {}
    if not sep:
        return name, kwargs
    if not rest.strip():
        raise _malformed(spec, "nothing after ':'")
    for item in rest.split(","):
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not _IDENTIFIER.fullmatch(key) or not value:
            raise _malformed(spec, f"{item.strip()!r} is not key=value")
        if key in kwargs:
            raise _malformed(spec, f"{key!r} is given twice")
        kwargs[key] = _typed(value)
    return name, kwargs


def format_scorer_spec(name: str, kwargs: dict[str, Any] | None = None) -> str:
    """The spec string of ``name`` and ``kwargs``; the inverse of :func:`parse_scorer_spec` for simple values."""
    items = ",".join(f"{key}={'none' if value is None else value}" for key, value in (kwargs or {}).items())
    return f"{name}:{items}" if items else name


def create_scorer(spec: str, **overrides: Any) -> BaseScorer:
    """Build an unfitted scorer from a spec such as ``"knn_cosine:k=10"``.

    Args:
        spec: ``name`` or ``name:key=value,...``.
        **overrides: keyword arguments that replace those in the spec.

    Raises:
        ConfigError: malformed spec, unknown scorer or keyword (the message lists the valid ones), or a bad value.
    """
    name, kwargs = parse_scorer_spec(spec)
    scorer = SCORERS.create(name, **{**kwargs, **overrides})
    scorer.check_params()  # fail on a bad value now, not after the embeddings are extracted
    return scorer
