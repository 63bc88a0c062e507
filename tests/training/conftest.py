"""Fixtures for the training tests: a tiny S1-like recipe (the tiny data set and overrides are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from soundsentry.config import Recipe, load_recipe


@pytest.fixture(scope="session")
def tiny_recipe(tiny_overrides: list[str]) -> Callable[..., Recipe]:
    """``tiny_recipe("train.epochs=1", ...)``: the demo recipe shrunk by ``tiny_overrides`` (tests/conftest.py) plus
    extra overrides."""

    def make(*extra: str) -> Recipe:
        return load_recipe("s1_arcface_mfn_demo", [*tiny_overrides, *extra])

    return make
