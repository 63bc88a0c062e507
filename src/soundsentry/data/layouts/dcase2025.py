"""DCASE 2025 Task 2 layout (first-shot, one section per machine type, supplemental clips), registered as ``dcase2025``.

::

    <root>/<type>/train/section_00_source_train_normal_0000_<attributes>.wav   as dcase2022
    <root>/<type>/test/section_00_target_test_anomaly_0012_<attributes>.wav    development test, labelled
    <root>/<type>/test/section_00_0000.wav                                     evaluation: domain, label UNKNOWN
    <root>/<type>/supplemental/section_00_<words>_0000[_<attributes>].wav      clean machine or noise-only clips
    <root>/<type>/attributes_00.csv

Train and test clips follow :mod:`~soundsentry.data.layouts.dcase2022` (hidden attributes, ``noAttribute``, give
``{}``; an empty tail ``..._0000_.wav`` too). Every audio file in ``supplemental/`` whose name starts with
``section_XX_`` becomes a clip of split ``supplemental``: the words between the section and the first number say
what it is. ``noise`` gives ``kind=noise`` (label ``unknown``: no machine is heard); ``machine`` or ``clean`` gives
``kind=clean`` (label ``normal``); ``source`` / ``target`` give the domain (else ``unknown``). Names seen so far
(``section_00_machine_0001_.wav``, ``section_00_source_supplemental_machine_0000.wav``,
``section_00_noise_supplemental_normal_0000.wav``) all parse; a name the words do not explain keeps no ``kind``.
Evaluation test names ``section_00_test_0000.wav`` are accepted next to ``section_00_0000.wav``.

Detection: the tree must hold supplemental clips (2022-2024 trees have none; without them a 2025 tree is the same
as a ``dcase2022`` one and is detected as such, with the same clips and evaluation rule).
"""

from __future__ import annotations

import re
from pathlib import Path

from soundsentry.data.layouts.base import ParseResult, two_digits
from soundsentry.data.layouts.dcase2022 import HIDDEN_ATTRIBUTES, DCASE2022Layout, name_attributes
from soundsentry.registry import register_layout
from soundsentry.types import Clip, Domain, Label, Split

SUPPLEMENTAL = "supplemental"
_SUPPLEMENTAL_NAME = re.compile(r"^section_(?P<section>\d+)_(?P<rest>.+)$")
_EVAL_TEST = re.compile(r"^section_(?P<section>\d+)_test_\d+$")
_KINDS = {"noise": "noise", "machine": "clean", "clean": "clean"}


@register_layout("dcase2025")
class DCASE2025Layout(DCASE2022Layout):
    name = "dcase2025"
    priority = 50
    expects_supplemental = True  # say so when a tree has none

    def folders(self) -> tuple[str, ...]:
        return (*super().folders(), SUPPLEMENTAL)

    def detect(self, root: Path) -> float:
        result = self.parse(root)
        return result.recognised_fraction if any(c.split is Split.SUPPLEMENTAL for c in result.clips) else 0.0

    def parse(self, root: Path) -> ParseResult:
        result = super().parse(root)
        hidden = sorted({c.machine_type for c in result.clips if c.split is not Split.SUPPLEMENTAL and _hidden(c)})
        if hidden:
            result.notes.append(f"attributes are hidden (noAttribute) for {', '.join(hidden)}")
        if self.expects_supplemental and result.clips and not any(c.split is Split.SUPPLEMENTAL for c in result.clips):
            result.notes.append("no supplemental/ clips were found: the manifest has train and test clips only")
        return result

    def clip_from_name(self, path: str, machine_type: str, folder: str, stem: str) -> Clip | None:
        if folder == SUPPLEMENTAL:
            return self.supplemental_clip(path, machine_type, stem)
        match = _EVAL_TEST.match(stem)
        if match and folder == "test":
            return Clip(
                path=path,
                machine_type=machine_type,
                section=two_digits(match["section"]),
                domain=Domain.UNKNOWN,
                split=Split.TEST,
                label=Label.UNKNOWN,
                dataset=self.name,
            )
        return super().clip_from_name(path, machine_type, folder, stem)

    def supplemental_clip(self, path: str, machine_type: str, stem: str) -> Clip | None:
        """A clip of split ``supplemental``; ``kind`` and domain come from the words before the clip number."""
        match = _SUPPLEMENTAL_NAME.match(stem)
        if match is None:
            return None
        tokens = match["rest"].split("_")
        number = next((i for i, t in enumerate(tokens) if t.isdigit()), len(tokens))
        words, tail = tokens[:number], "_".join(tokens[number + 1 :])
        kinds = {_KINDS[w] for w in words if w in _KINDS}
        kind = kinds.pop() if len(kinds) == 1 else None
        domains = [w for w in words if w in (Domain.SOURCE.value, Domain.TARGET.value)]
        attributes = {} if number == len(tokens) else name_attributes(tail)
        if kind:
            attributes = {**attributes, "kind": kind}
        return Clip(
            path=path,
            machine_type=machine_type,
            section=two_digits(match["section"]),
            domain=Domain(domains[0]) if len(set(domains)) == 1 else Domain.UNKNOWN,
            split=Split.SUPPLEMENTAL,
            label=Label.NORMAL if kind == "clean" else Label.UNKNOWN,
            attributes=attributes,
            dataset=self.name,
        )


def _hidden(clip: Clip) -> bool:
    stem = Path(clip.path).stem
    return any(stem.endswith(f"_{marker}") for marker in HIDDEN_ATTRIBUTES)
