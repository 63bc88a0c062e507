"""Scene-classification clip records and the two layouts they are read from.

* TAU Urban Acoustic Scenes 2020 Mobile (S5): ``audio/<scene>-<city>-<location>-<segment>-<device>.wav``, a
  tab-separated ``meta.csv`` and the official split ``evaluation_setup/fold1_{train,evaluate}.csv``.
* A plain folder ``<class>/<file>.wav``: the class is the folder name; city and device are unknown, and a seeded
  share of each class becomes the evaluation split.

Both parsers return :class:`SceneClip` records; everything downstream reads only those.
"""

from __future__ import annotations

import csv
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from soundsentry.errors import DataError, LayoutError

TAU_NAME = re.compile(
    r"^(?P<scene>[a-z_]+)-(?P<city>[a-z]+)-(?P<location>\d+)-(?P<segment>\d+)-(?P<device>[a-z][a-z0-9]*)\.wav$"
)
SPLITS = ("train", "evaluate")
AUDIO_SUFFIXES = (".wav", ".flac")
_SHOWN = 5  # unknown names quoted in an error message


@dataclass(frozen=True)
class SceneClip:
    """One recording of an acoustic scene.

    Attributes:
        path: the audio file.
        scene: class label (``airport``, ``bus`` ...).
        city: recording city (``""`` when unknown).
        device: recording device (``a``, ``b``, ``c``, ``s1`` ... ; ``""`` when unknown).
        location: recording location id within the city (``""`` when unknown).
        segment: segment index within the location's recording (``-1`` when unknown).
        split: ``train``, ``evaluate`` or ``None`` (in no split of the setup).
    """

    path: Path
    scene: str
    city: str = ""
    device: str = ""
    location: str = ""
    segment: int = -1
    split: str | None = None


def parse_tau_name(name: str) -> dict[str, str | int]:
    """Fields of a TAU 2020 Mobile file name such as ``airport-barcelona-0-0-a.wav``.

    Raises:
        LayoutError: the name does not follow ``<scene>-<city>-<location>-<segment>-<device>.wav``.
    """
    m = TAU_NAME.match(name)
    if m is None:
        raise LayoutError(
            f"{name!r} is not a TAU 2020 Mobile file name <scene>-<city>-<location>-<segment>-<device>.wav "
            "(e.g. airport-barcelona-0-0-a.wav)"
        )
    d: dict[str, str | int] = dict(m.groupdict())
    d["segment"] = int(d["segment"])
    return d


def _unknown_error(root: Path, what: str, names: Sequence[str]) -> LayoutError:
    shown = ", ".join(names[:_SHOWN]) + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")
    return LayoutError(f"{root}: {len(names)} {what}: {shown}; rename or remove them")


def _read_rows(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    """Rows of a tab-separated TAU CSV with a header; missing columns are a DataError."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(
                f"{path}: missing column(s) {', '.join(missing)}; a TAU setup file is tab-separated with the header "
                f"{chr(9).join(required)} (found {reader.fieldnames})"
            )
        return list(reader)


def parse_tau(root: str | Path) -> list[SceneClip]:
    """Parse a TAU Urban Acoustic Scenes 2020 Mobile folder into clips, with the fold-1 split.

    The clip list comes from ``meta.csv`` when present (else from ``audio/*.wav``); the split from
    ``evaluation_setup/fold1_train.csv`` and ``fold1_evaluate.csv`` (clips in neither get ``split=None``).

    Raises:
        LayoutError: the folder is not a TAU folder, or file names do not follow the convention.
        DataError: a listed file is missing, or a setup file contradicts the file name.
    """
    root = Path(root)
    audio = root / "audio"
    if not audio.is_dir():
        raise LayoutError(f"{root}: no audio/ folder; a TAU folder has audio/, meta.csv, evaluation_setup/")
    meta = root / "meta.csv"
    if meta.is_file():
        names = [Path(r["filename"]).name for r in _read_rows(meta, ("filename", "scene_label"))]
    else:
        names = sorted(p.name for p in audio.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    bad = [n for n in names if TAU_NAME.match(n) is None]
    if bad:
        raise _unknown_error(root, "file name(s) not of the form <scene>-<city>-<location>-<segment>-<device>.wav", bad)
    missing = [n for n in names if not (audio / n).is_file()]
    if missing:
        raise DataError(f"{root}: {len(missing)} file(s) in meta.csv are missing from audio/: {missing[:_SHOWN]}")
    split_of = _read_splits(root)
    clips = []
    for n in names:
        f = parse_tau_name(n)
        split = split_of.get(n)
        if split is not None and split[1] != f["scene"]:
            raise DataError(f"{root}: setup file labels {n} as {split[1]!r} but its name says {f['scene']!r}")
        clips.append(
            SceneClip(
                path=audio / n,
                scene=str(f["scene"]),
                city=str(f["city"]),
                device=str(f["device"]),
                location=str(f["location"]),
                segment=int(f["segment"]),
                split=None if split is None else split[0],
            )
        )
    if not clips:
        raise LayoutError(f"{root}: audio/ holds no .wav files")
    return clips


def _read_splits(root: Path) -> dict[str, tuple[str, str]]:
    """``file name -> (split, scene label)`` from ``evaluation_setup/fold1_{train,evaluate}.csv``."""
    out: dict[str, tuple[str, str]] = {}
    for split in SPLITS:
        path = root / "evaluation_setup" / f"fold1_{split}.csv"
        if not path.is_file():
            raise LayoutError(f"{root}: missing {path.relative_to(root)}; the fold-1 setup files define the split")
        for row in _read_rows(path, ("filename", "scene_label")):
            out[Path(row["filename"]).name] = (split, row["scene_label"])
    return out


def parse_scene_folder(root: str | Path, *, evaluate_fraction: float = 0.3, seed: int = 0) -> list[SceneClip]:
    """Parse a plain ``<class>/<file>.wav`` folder; a seeded ``evaluate_fraction`` of each class is held out.

    Raises:
        LayoutError: audio files lie outside a class folder, or no class folder holds audio.
    """
    root = Path(root)
    if not 0.0 <= evaluate_fraction < 1.0:
        raise DataError(f"evaluate_fraction must lie in [0, 1), got {evaluate_fraction}")
    stray = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.suffix.lower() in AUDIO_SUFFIXES and len(p.relative_to(root).parts) != 2
    )
    if stray:
        raise _unknown_error(root, "audio file(s) not directly inside a <class>/ folder", stray)
    rng = random.Random(seed)
    clips: list[SceneClip] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
        n_eval = int(round(evaluate_fraction * len(files)))
        held = set(rng.sample(range(len(files)), n_eval))
        for i, p in enumerate(files):
            clips.append(SceneClip(path=p, scene=folder.name, split="evaluate" if i in held else "train"))
    if not clips:
        raise LayoutError(f"{root}: no <class>/<file>.wav files found")
    return clips


def detect_and_parse(root: str | Path, *, layout: str | None = None, seed: int = 0) -> list[SceneClip]:
    """Parse ``root`` as ``tau`` (it has ``audio/``) or ``folder``; ``layout`` forces one."""
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: no such folder; pass the data set root (or make one: `soundsentry scenes synth`)")
    chosen = layout or ("tau" if (root / "audio").is_dir() else "folder")
    if chosen == "tau":
        return parse_tau(root)
    if chosen == "folder":
        return parse_scene_folder(root, seed=seed)
    raise LayoutError(f"unknown scene layout {chosen!r}; known: folder, tau")


def balance(clips: Iterable[SceneClip], per_group: int, seed: int = 0) -> list[SceneClip]:
    """Subsample at most ``per_group`` clips per (city, device, scene), seeded (S5 section 2: 7 per group).

    Groups with fewer clips keep all of them. The result keeps the input order.
    """
    if per_group < 1:
        raise DataError(f"per_group must be a positive number of clips, got {per_group}")
    clips = list(clips)
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, c in enumerate(clips):
        groups[(c.city, c.device, c.scene)].append(i)
    rng = random.Random(seed)
    keep: set[int] = set()
    for key in sorted(groups):
        idx = groups[key]
        keep.update(idx if len(idx) <= per_group else rng.sample(idx, per_group))
    return [c for i, c in enumerate(clips) if i in keep]


def select_split(clips: Iterable[SceneClip], split: str) -> list[SceneClip]:
    """The clips of one split; an empty result is a DataError naming the split."""
    out = [c for c in clips if c.split == split]
    if not out:
        raise DataError(f"no clips in the {split!r} split; check evaluation_setup/fold1_{split}.csv")
    return out


def class_names(clips: Iterable[SceneClip]) -> list[str]:
    """Sorted scene labels."""
    return sorted({c.scene for c in clips})
