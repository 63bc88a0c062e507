"""DCASE 2021 Task 2 layout: sections and domains, with one test folder per domain.

::

    <root>/<type>/train/section_00_source_train_normal_0000_<attributes>.wav
    <root>/<type>/source_test/section_00_source_test_anomaly_0000_<attributes>.wav   development test, labelled
    <root>/<type>/target_test/section_00_target_test_normal_0000_<attributes>.wav
    <root>/<type>/test/section_03_source_test_0000.wav                               evaluation test: label UNKNOWN

The test folder may be ``source_test/``, ``target_test/`` or ``test/``; the domain in the file name must match a
domain folder. Attributes after the index follow the ``dcase2022`` rule (name/value pairs when the tail alternates,
else ``{"raw": tail}``). A tree with only ``train/`` and ``test/`` and fully labelled names is detected as
``dcase2022`` (see there); the clips are the same apart from ``dataset``.
"""

from __future__ import annotations

import re

from soundsentry.data.layouts.base import parse_attribute_string, two_digits
from soundsentry.data.layouts.dcase2022 import DCASE2022Layout
from soundsentry.registry import register_layout
from soundsentry.types import Clip, Domain, Label, Split

_NAME = re.compile(
    r"^section_(?P<section>\d+)_(?P<domain>source|target)_(?P<split>train|test)_"
    r"(?:(?P<label>normal|anomaly)_)?\d+(?:_(?P<attrs>.+))?$"
)


@register_layout("dcase2021")
class DCASE2021Layout(DCASE2022Layout):
    name = "dcase2021"
    priority = 30
    test_folders = ("source_test", "target_test", "test")

    def clip_from_name(self, path: str, machine_type: str, folder: str, stem: str) -> Clip | None:
        match = _NAME.match(stem)
        if match is None or folder not in ("train", f"{match['domain']}_test", "test"):
            return None
        split = Split.TRAIN if folder == "train" else Split.TEST
        label = match["label"]
        if match["split"] != split.value or (label is None and split is Split.TRAIN):
            return None
        return Clip(
            path=path,
            machine_type=machine_type,
            section=two_digits(match["section"]),
            domain=Domain(match["domain"]),
            split=split,
            label=Label(label) if label else Label.UNKNOWN,
            attributes=parse_attribute_string(match["attrs"]),
            dataset=self.name,
        )
