"""Dataset layouts: parse a data folder into :class:`~soundsentry.types.Clip` records by file name.

Importing this package registers every parser in :data:`soundsentry.registry.LAYOUTS`.

Detection: each layout reports the share of the audio files under the root that it recognises; the highest share
wins and ties go to the higher ``priority`` (dcase2026 > dcase2025 > dcase2022 > dcase2021 > dcase2020 > mimii >
folder), because some trees fit two conventions (a DCASE 2021/2022 tree with only ``train/`` and ``test/`` folders, a
single DCASE 2020 machine folder that also looks like a plain folder of folders). ``dcase2025`` claims only trees with
``supplemental/`` clips and ``dcase2026`` only two-channel ones (it reads a few file headers), so a 2022-2024 tree
stays ``dcase2022``. Unrecognised audio files are listed in :attr:`ParseResult.unknown`, never dropped; a forced
layout that recognises no file at all is an error naming the layout that would fit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from soundsentry.data.layouts import (  # noqa: F401  (registration)
    dcase2020,
    dcase2021,
    dcase2022,
    dcase2025,
    dcase2026,
    folder,
    mimii,
)
from soundsentry.data.layouts.base import AUDIO_EXTENSIONS, Layout, ParseResult, audio_files, parse_attribute_string
from soundsentry.errors import ConfigError, LayoutError
from soundsentry.registry import LAYOUTS

__all__ = [
    "AUDIO_EXTENSIONS",
    "Layout",
    "ParseResult",
    "detect_layout",
    "parse_attribute_string",
    "parse_dataset",
]


def _checked_root(root: str | os.PathLike[str]) -> Path:
    path = Path(os.path.abspath(os.path.expanduser(root)))
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise LayoutError(f"data folder {path} {what}; pass the folder that holds the machine-type folders")
    if not audio_files(path):
        raise LayoutError(
            f"data folder {path} holds no audio files ({', '.join(AUDIO_EXTENSIONS)}); "
            "pass the folder that holds the machine-type folders"
        )
    return path


def _detect(root: Path) -> str:
    layouts: list[Layout] = [LAYOUTS.create(name) for name in LAYOUTS.available()]
    parsed = [(layout.priority, layout.detect(root), layout.name) for layout in layouts]
    _, score, best = max(parsed, key=lambda item: (item[1], item[0]))
    if score == 0:
        example = audio_files(root)[0]
        raise LayoutError(
            f"no known layout fits the audio files under {root} (e.g. {example.relative_to(root)}); "
            f"pass layout=... to force one of {', '.join(LAYOUTS.available())}, or for a folder labelled by CSV "
            "files use layout='folder' with labels_csv and normal_labels"
        )
    return best


def detect_layout(root: str | os.PathLike[str]) -> str:
    """Name of the registered layout that recognises the most audio files under ``root``.

    Raises:
        LayoutError: the folder is missing, holds no audio, or no layout recognises any of its audio files.
    """
    return _detect(_checked_root(root))


def parse_dataset(root: str | os.PathLike[str], layout: str | None = None, **options: Any) -> ParseResult:
    """Parse a data folder into clips.

    Args:
        root: the data folder (for DCASE layouts the folder holding the machine-type folders, one of them, or
            one split folder such as ``fan/test``).
        layout: a registered layout name; auto-detected when None.
        **options: keyword arguments of the layout (e.g. ``labels_csv`` for ``folder``); they need ``layout``.

    Raises:
        LayoutError: the folder is missing or holds no audio, or no layout fits it.
        ConfigError: an unknown layout name or option (the message lists the valid ones).
    """
    if options and layout is None:
        raise ConfigError(f"layout options {sorted(options)} need an explicit layout name, e.g. layout='folder'")
    if layout is not None:
        LAYOUTS.get(layout)  # an unknown name fails before the folder is scanned
    path = _checked_root(root)
    result = LAYOUTS.create(layout or _detect(path), **options).parse(path)
    if not result.clips:
        raise LayoutError(_nothing_recognised(path, result))
    return result


def _nothing_recognised(root: Path, result: ParseResult) -> str:
    """A forced layout that fits none of the files: name an example and the layout detection would pick."""
    example = Path(result.unknown[0]).relative_to(root) if result.unknown else "(no audio)"
    try:
        hint = f"detection picks {_detect(root)!r}: omit the layout or pass that one"
    except LayoutError:
        hint = f"no known layout fits either; known layouts: {', '.join(LAYOUTS.available())}"
    return f"layout {result.layout!r} recognises none of the audio files under {root} (e.g. {example}); {hint}"
