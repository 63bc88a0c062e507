"""Recipe files: packaged names, ``base:`` chains, ``a.b=value`` overrides (``--set``), and the resolved dump."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from soundsentry.config.build import recipe_from_dict
from soundsentry.config.sections import ANOMALY_TASK, Recipe, _to_plain
from soundsentry.errors import ConfigError
from soundsentry.io import atomic_write_text

RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3`` and reads ``1e-3`` as text)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def available_recipes() -> list[str]:
    """Names of the recipes shipped with the package (``soundsentry/recipes/*.yaml``)."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def resolve_recipe_path(path_or_name: str | os.PathLike[str]) -> Path:
    """A recipe file path, or the packaged recipe of that name (``s1_arcface_mfn_net1``)."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    packaged = RECIPES_DIR / f"{path.name}.yaml" if path.suffix == "" else RECIPES_DIR / path.name
    if str(path) == path.name and packaged.is_file():
        return packaged
    raise ConfigError(
        f"recipe {str(path_or_name)!r} is neither a file nor a packaged recipe; "
        f"packaged recipes: {', '.join(available_recipes()) or '(none)'}"
    )


def apply_override(data: dict[str, Any], override: str, source: str = "<recipe>") -> None:
    """Apply one ``a.b.c=value`` override in place; the value is parsed as YAML (``3``, ``0.5``, ``[1, 2]``)."""
    key, eq, text = override.partition("=")
    key = key.strip()
    if not eq or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {override!r} is not of the form key.subkey=value (e.g. train.epochs=3)")
    try:
        value = _yaml_load(text) if text.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"override {override!r}: the value is not valid YAML ({err})") from None
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):  # stages.0.epochs: an index into a list
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"override {override!r}: {part!r} is not an index of a {len(node)}-entry list")
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise ConfigError(f"override {override!r}: {'.'.join(parts[:i])} is not a mapping")
    last = parts[-1]
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"override {override!r}: {'.'.join(parts[:-1])} is not a mapping")


def recipe_task(path: str | os.PathLike[str]) -> str:
    """The ``task:`` of a recipe file or packaged name (``anomaly_detection`` when the key is absent)."""
    return str(read_recipe_data(path).get("task", ANOMALY_TASK))


def read_recipe_data(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping of a recipe file or packaged name, its ``base:`` chain merged in, as plain dicts and lists.

    Raises:
        ConfigError: a missing file, invalid YAML, a non-mapping, a bad or circular ``base:``.
    """
    return _to_plain(copy.deepcopy(_read_with_base(resolve_recipe_path(path), ())))


def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """``child`` over ``base``, mapping by mapping; a component mapping with another ``name`` replaces the base's
    (``head: {name: softmax}`` over an ArcFace head drops the margin)."""
    out = dict(base)
    for key, value in child.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict) and value.get("name", old.get("name")) == old.get("name"):
            out[key] = _merge(old, value)
        else:
            out[key] = value
    return out


def _read_with_base(file: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """A recipe file's mapping with its ``base:`` recipe (a packaged name, or a path relative to the file) merged
    underneath, recursively."""
    try:
        data = _yaml_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{file}: not valid YAML ({' '.join(str(err).split())})") from None
    except UnicodeDecodeError as err:  # a binary or damaged file
        raise ConfigError(
            f"{file}: not a UTF-8 text recipe ({err.reason} at byte {err.start}); is it a YAML file?"
        ) from None
    except OSError as err:
        raise ConfigError(
            f"{file}: cannot be read ({err.strerror or err}); check the path and its permissions"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: a recipe must be a YAML mapping, got {type(data).__name__}")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{file}: base must name another recipe (a packaged name or a path), got {base!r}")
    relative = file.parent / base
    try:
        base_file = relative if relative.is_file() else resolve_recipe_path(base)
    except ConfigError as err:
        raise ConfigError(f"{file}: base: {err}") from None
    if base_file.resolve() in {p.resolve() for p in (*chain, file)}:
        raise ConfigError(f"{file}: base {base!r} leads back to a recipe already in the chain; remove the cycle")
    return _merge(_read_with_base(base_file, (*chain, file)), data)


def load_recipe(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Recipe:
    """Read a recipe YAML (a path or a packaged recipe name) and apply ``key.subkey=value`` overrides.

    Raises:
        ConfigError: missing file, invalid YAML, unknown keys (the message names the file and the valid keys),
            malformed overrides or invalid values.
    """
    file = resolve_recipe_path(path)
    data = read_recipe_data(file)
    for item in overrides:
        apply_override(data, item, str(file))
    source = f"{file} (with overrides {', '.join(overrides)})" if overrides else str(file)
    return recipe_from_dict(data, source)


def dump_resolved(recipe: Recipe, path: str | os.PathLike[str]) -> Path:
    """Write the fully resolved recipe (every default filled in) as YAML, atomically; returns the path."""
    text = yaml.safe_dump(recipe.to_dict(), sort_keys=False, default_flow_style=False, width=120)
    return atomic_write_text(path, text)
