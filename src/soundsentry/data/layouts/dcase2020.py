"""DCASE 2020 Task 2 layout (MIMII DUE's predecessor: machine IDs, no domains).

::

    <root>/<type>/train/normal_id_00_00000000.wav        training normal
    <root>/<type>/test/normal_id_00_00000003.wav         development test, labelled
    <root>/<type>/test/anomaly_id_00_00000003.wav
    <root>/<type>/test/id_00_00000000.wav                evaluation test, unlabelled (label UNKNOWN)

The machine ID becomes the section; every clip is in the source domain. ``root`` may also be one machine-type
folder (holding ``train/`` and ``test/``); the machine type is then that folder's name.
"""

from __future__ import annotations

import re
from pathlib import Path

from soundsentry.data.layouts.base import Layout, ParseResult, audio_files, machine_dir_parts, two_digits
from soundsentry.registry import register_layout
from soundsentry.types import Clip, Domain, Label, Split

_NAME = re.compile(r"^(?:(?P<label>normal|anomaly)_)?id_(?P<id>\d+)_(?P<index>\d+)$")


@register_layout("dcase2020")
class DCASE2020Layout(Layout):
    name = "dcase2020"
    priority = 20

    def parse(self, root: Path) -> ParseResult:
        result = ParseResult(self.name)
        for path in audio_files(root):
            clip = self._clip(root, path)
            if clip is None:
                result.unknown.append(str(path))
            else:
                result.clips.append(clip)
        return result

    def _clip(self, root: Path, path: Path) -> Clip | None:
        where = machine_dir_parts(root, path, ("train", "test"))
        match = _NAME.match(where[2]) if where else None
        if where is None or match is None:
            return None
        machine_type, folder, _ = where
        label = match["label"]
        if folder == "train" and label != "normal":  # training data is normal by construction
            return None
        return Clip(
            path=str(path),
            machine_type=machine_type,
            section=two_digits(match["id"]),
            domain=Domain.SOURCE,
            split=Split(folder),
            label=Label(label) if label else Label.UNKNOWN,
            dataset=self.name,
        )
