"""MIMII raw layout (Purohit et al., 2019): 8-channel recordings per machine ID, no official train/test split.

::

    <root>/[<snr folder>/]<type>/id_00/normal/00000000.wav
    <root>/[<snr folder>/]<type>/id_00/abnormal/00000000.wav

``root`` may be the folder holding the SNR folders (``-6_dB_fan``, ``0_dB_fan``, ``6_dB_fan``), one SNR folder, or one
machine-type folder. The machine ID becomes the section, every clip is in the source domain, and the SNR parsed from
the folder name (``-6_dB_fan`` -> ``-6``) is kept as attribute ``snr_db``. When several SNR folders hold the same
machine type, the SNR joins the machine type (``fan_-6dB``) so that each mixture is scored on its own.

Split rule (the DCASE 2020 construction), for each (SNR folder, machine type, ID) separately:
    1. sort the normal clips by file name;
    2. n = number of abnormal clips, capped at half the normal clips;
    3. the first n normal clips and every abnormal clip form the test split; the other normal clips form train.
The rule uses file names only, so it is deterministic and the same for every SNR level of a recording.
Parsing reads no audio; the 8 channels are handled when loading (``channel`` option of ``load_audio``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from soundsentry.data.layouts.base import Layout, ParseResult, audio_files, two_digits
from soundsentry.registry import register_layout
from soundsentry.types import Clip, Domain, Label, Split

_ID = re.compile(r"^id_(\d+)$")
_SNR = re.compile(r"^(-?\d+)_?dB", re.IGNORECASE)
_CONDITIONS = {"normal": Label.NORMAL, "abnormal": Label.ANOMALY}


@dataclass(frozen=True)
class _Found:
    path: Path
    level: str  # SNR folder name ("" when the tree has none)
    machine_type: str
    machine_id: str
    label: Label


@register_layout("mimii")
class MIMIILayout(Layout):
    name = "mimii"
    priority = 10

    def parse(self, root: Path) -> ParseResult:
        result = ParseResult(self.name)
        groups: dict[tuple[str, str, str], list[_Found]] = defaultdict(list)
        for path in audio_files(root):
            found = _locate(root, path)
            if found is None:
                result.unknown.append(str(path))
            else:
                groups[(found.level, found.machine_type, found.machine_id)].append(found)
        levels_per_type: dict[str, set[str]] = defaultdict(set)
        for level, machine_type, _ in groups:
            levels_per_type[machine_type].add(level)
        for (level, machine_type, _), members in sorted(groups.items()):
            shared = len(levels_per_type[machine_type]) > 1
            result.clips.extend(self._split(members, _group_type(machine_type, level) if shared else machine_type))
        result.clips.sort(key=lambda clip: clip.path)
        return result

    def _split(self, members: list[_Found], machine_type: str) -> list[Clip]:
        normals = sorted((m for m in members if m.label is Label.NORMAL), key=lambda m: m.path.name)
        anomalies = [m for m in members if m.label is Label.ANOMALY]
        n_test = min(len(anomalies), len(normals) // 2)
        test = {m.path for m in normals[:n_test]} | {m.path for m in anomalies}
        clips = []
        for m in members:
            snr = _SNR.match(m.level)
            clips.append(
                Clip(
                    path=str(m.path),
                    machine_type=machine_type,
                    section=two_digits(m.machine_id),
                    domain=Domain.SOURCE,
                    split=Split.TEST if m.path in test else Split.TRAIN,
                    label=m.label,
                    attributes={"snr_db": snr[1]} if snr else {},
                    dataset=self.name,
                )
            )
        return clips


def _locate(root: Path, path: Path) -> _Found | None:
    """Where a file sits in the MIMII tree, or None when the path has another shape."""
    parts = path.relative_to(root).parts
    if len(parts) not in (3, 4, 5) or parts[-2] not in _CONDITIONS:
        return None
    match = _ID.match(parts[-3])
    if match is None:
        return None
    context = (root.parent.name, root.name, *parts[:-3])  # the folders above id_XX, outermost first
    return _Found(path, level=context[-2], machine_type=context[-1], machine_id=match[1], label=_CONDITIONS[parts[-2]])


def _group_type(machine_type: str, level: str) -> str:
    snr = _SNR.match(level)
    return f"{machine_type}_{snr[1]}dB" if snr else f"{machine_type}_{level}"
