"""The dataset-layout contract: a parser turns a folder into :class:`~soundsentry.types.Clip` records by file name.

Parsers never decode audio. Every audio file (``.wav``, ``.flac``) under the root either becomes a clip or is listed
in :attr:`ParseResult.unknown`; nothing is dropped silently. Other files (csv, txt, md ...) are ignored.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from soundsentry.types import Clip

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac")
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9.+-]*$")


@dataclass
class ParseResult:
    """What a layout parser found under a root folder.

    Attributes:
        layout: registry name of the parser (also the ``dataset`` of every clip).
        clips: one record per recognised audio file, sorted by path.
        unknown: absolute paths of audio files that match none of the layout's conventions.
        notes: one-line remarks for the user (e.g. labels that were neither normal nor anomalous).
    """

    layout: str
    clips: list[Clip] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def recognised_fraction(self) -> float:
        """Share of the audio files that became clips (0 when there is no audio at all)."""
        total = len(self.clips) + len(self.unknown)
        return len(self.clips) / total if total else 0.0


class Layout:
    """Base class of the layout parsers; a subclass implements :meth:`parse`.

    ``detect`` defaults to the share of audio files :meth:`parse` recognises, so a layout only overrides it to
    refuse trees that another layout claims more specifically. ``priority`` breaks ties in auto-detection
    (higher wins) because some trees are valid under two conventions.
    """

    name: ClassVar[str] = ""
    priority: ClassVar[int] = 0

    def detect(self, root: Path) -> float:
        """Confidence in [0, 1] that ``root`` follows this layout."""
        return self.parse(root).recognised_fraction

    def parse(self, root: Path) -> ParseResult:
        """Clips and unknown files under ``root`` (an existing folder)."""
        raise NotImplementedError(f"layout {type(self).__name__} does not implement parse()")


def is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS


def audio_files(root: Path) -> list[Path]:
    """Absolute paths of every audio file under ``root``, sorted; hidden files and folders are skipped."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(folder, f).absolute() for f in sorted(files) if not f.startswith(".") and is_audio(Path(f)))
    return sorted(found)


def machine_dir_parts(root: Path, path: Path, split_dirs: tuple[str, ...]) -> tuple[str, str, str] | None:
    """(machine type, split folder, file stem) of a DCASE-style path ``<root>/<type>/<split>/<name>``.

    ``root`` may also be one machine-type folder (it then holds a split folder itself; the machine type is the
    root folder's name) or one split folder (``<type>/test``; the machine type is its parent's name). Returns None
    when the path has another shape.
    """
    parts = path.relative_to(root).parts
    if len(parts) == 3 and parts[1] in split_dirs:
        return parts[0], parts[1], Path(parts[2]).stem
    if len(parts) == 2 and parts[0] in split_dirs:
        return root.name, parts[0], Path(parts[1]).stem
    if len(parts) == 1 and root.name in split_dirs and root.parent.name:
        return root.parent.name, root.name, Path(parts[0]).stem
    return None


def two_digits(number: str) -> str:
    """Section / ID number as at least two digits: ``"0"`` -> ``"00"``, ``"03"`` -> ``"03"``."""
    return f"{int(number):02d}"


def parse_attribute_string(text: str | None) -> dict[str, str]:
    """Attributes from the tail of a file name.

    ``car_A1_spd_28V_mic_1`` alternates name and value, so it becomes ``{"car": "A1", "spd": "28V", "mic": "1"}``;
    anything that does not alternate (odd token count, a name that does not start with a letter, a repeated name)
    is kept whole as ``{"raw": text}``. An empty tail gives ``{}``.
    """
    if not text:
        return {}
    tokens = text.split("_")
    keys, values = tokens[0::2], tokens[1::2]
    if len(tokens) % 2 or not all(_KEY.match(k) for k in keys) or len(set(keys)) != len(keys) or not all(values):
        return {"raw": text}
    return dict(zip(keys, values, strict=True))
