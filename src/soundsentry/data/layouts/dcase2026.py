"""DCASE 2026 Task 2 layout (two-channel clips: near microphone left, far microphone right): ``dcase2026``.

::

    <root>/<type>/train/section_00_source_train_normal_0000_<attributes>.wav   stereo; names as dcase2025
    <root>/<type>/test/section_00_target_test_anomaly_0012_<attributes>.wav
    <root>/<type>/test/section_00_0000.wav                                     evaluation: domain, label UNKNOWN
    <root>/<type>/attributes_00.csv

File names and folders follow :mod:`~soundsentry.data.layouts.dcase2025` (a ``supplemental/`` folder is read if
there is one). What sets the year apart is in the files: every clip has two channels, channel 0 (left) from the
microphone near the machine, equivalent to the mono clips of earlier years, and channel 1 (right) from a far
microphone that hears more of the environment. The parser stores no channel: a recipe picks its channel policy when
the audio is loaded (``load_audio(..., channel="left" | "right" | "mean" | "both")``).

Detection reads the headers (not the samples) of a few clips: the tree is ``dcase2026`` when they have two or more
channels. Forcing ``layout="dcase2026"`` on a mono tree is an error, not a silent mono manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from soundsentry.data.layouts.base import ParseResult
from soundsentry.data.layouts.dcase2025 import DCASE2025Layout
from soundsentry.errors import LayoutError, SoundSentryError
from soundsentry.registry import register_layout
from soundsentry.types import Clip, Split

# Headers read to tell a two-channel tree from a mono one; the first clips of each split, so few files are opened.
SAMPLED_CLIPS = 3


@register_layout("dcase2026")
class DCASE2026Layout(DCASE2025Layout):
    name = "dcase2026"
    priority = 60
    expects_supplemental = False

    def detect(self, root: Path) -> float:
        result = self.parse_names(root)
        channels = sampled_channels(result.clips)
        return result.recognised_fraction if channels and min(channels) >= 2 else 0.0

    def parse(self, root: Path) -> ParseResult:
        result = self.parse_names(root)
        channels = sampled_channels(result.clips)
        if channels and max(channels) < 2:
            raise LayoutError(
                f"{root}: layout 'dcase2026' expects two-channel clips (near and far microphone) but "
                f"{Path(result.clips[0].path).name} and the other clips checked are mono; use layout 'dcase2025' or "
                "'dcase2022', or omit the layout to detect it"
            )
        if result.clips:
            result.notes.append(
                "two-channel clips: left = near microphone, right = far microphone; the recipe's channel policy "
                "(left, right, mean or both) applies when the audio is loaded"
            )
        return result

    def parse_names(self, root: Path) -> ParseResult:
        """Clips by file name only, as :class:`DCASE2025Layout` parses them."""
        return super().parse(root)


def sampled_channels(clips: Sequence[Clip], per_split: int = SAMPLED_CLIPS) -> list[int]:
    """Channel counts of the first ``per_split`` readable clips of each split (unreadable files are skipped)."""
    from soundsentry.data.audio import audio_info

    counts: list[int] = []
    for split in Split:
        tried = 0
        for clip in (c for c in clips if c.split is split):
            if tried == per_split:
                break
            tried += 1
            try:
                counts.append(audio_info(clip.path).channels)
            except (SoundSentryError, OSError):  # an empty or broken file is reported when it is loaded
                continue
    return counts
