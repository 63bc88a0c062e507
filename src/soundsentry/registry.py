"""One tiny registry per kind of component: register by decorator, create by name.

Configs name components by registry key plus keyword arguments, never by dotted class paths::

    @register_scorer("knn")
    def knn(k: int = 1, metric: str = "euclidean") -> KNNScorer: ...

    scorer = SCORERS.create("knn", k=10, metric="cosine")

An unknown name or keyword is a :class:`~soundsentry.errors.ConfigError` that lists the valid ones.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from soundsentry.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> factory mapping for one kind of component (front-end, backbone, scorer ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator that registers a factory (class or function) under ``name``."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[name] = factory
            return factory

        return decorator

    def available(self) -> list[str]:
        """Sorted names of every registered factory."""
        return sorted(self._factories)

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered under ``name``; an unknown name lists the known ones."""
        if name not in self._factories:
            close = difflib.get_close_matches(name, self._factories, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(
                f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(self.available()) or '(none)'}"
            )
        return self._factories[name]

    def parameters(self, name: str) -> dict[str, Any]:
        """Keyword arguments the factory accepts, with their defaults (``inspect.Parameter.empty`` if required)."""
        sig = inspect.signature(self.get(name))
        return {
            p.name: p.default
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
        }

    def create(self, name: str, **kwargs: Any) -> T:
        """Build the component ``name`` with explicit keyword arguments; unknown keywords are an error."""
        factory = self.get(name)
        allowed = self.parameters(name)
        accepts_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown and not accepts_any:
            raise ConfigError(
                f"{self.kind} {name!r} does not take {', '.join(unknown)}; "
                f"valid keywords: {', '.join(sorted(allowed)) or '(none)'}"
            )
        return factory(**kwargs)

    def __contains__(self, name: object) -> bool:
        return name in self._factories


FRONTENDS: Registry[Any] = Registry("front-end")
BACKBONES: Registry[Any] = Registry("backbone")
HEADS: Registry[Any] = Registry("head")
SCORERS: Registry[Any] = Registry("scorer")
LAYOUTS: Registry[Any] = Registry("layout")

register_frontend = FRONTENDS.register
register_backbone = BACKBONES.register
register_head = HEADS.register
register_scorer = SCORERS.register
register_layout = LAYOUTS.register
