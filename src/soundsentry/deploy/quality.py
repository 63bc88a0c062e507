"""The input-quality gate: decide whether a recording can be judged before a detector scores it.

``score-dir`` and the HTTP service call :func:`check_clip` on every file. A clip that fails gets
``decision=error``, a ``quality`` value naming the problem (:class:`QualityProblem`) and a one-line reason; it is
never given a score or a normal / anomaly decision. The problems, in the order they are checked:

* ``undecodable``: not audio, or a format the loader cannot read; ``empty``: no samples;
* ``too_long``: longer than the caller's limit (the service's ``--max-seconds``), read from the header;
* ``truncated``: the file holds fewer samples than its header announces (a WAV cut short, a FLAC or MP3 whose
  stream stops early); libsndfile reads such files without complaint, so the WAV data chunk is measured here;
* ``non_finite``: NaN or infinite samples;
* ``too_short``: shorter than the detector's minimum (one feature chunk, :func:`min_clip_samples`); a shorter clip
  would be padded into a chunk that is mostly padding;
* ``low_sample_rate``: recorded at a rate whose Nyquist frequency is below the top of the detector's band (an
  8 kHz file for a 16 kHz detector would be upsampled with its top band empty: a recording fault, not a machine
  fault);
* ``silent``: all zeros (a dead microphone or cable); ``near_silent``: RMS below :attr:`QualityLimits.min_rms_db`;
* ``clipped``: more than :attr:`QualityLimits.max_clipped_fraction` of the samples at full scale.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from soundsentry.data.audio import SILENCE_PEAK
from soundsentry.errors import ConfigError, SoundSentryError

if TYPE_CHECKING:
    from soundsentry.config import Recipe
    from soundsentry.training.features import FeaturePipeline

QUALITY_OK = "ok"
# -80 dBFS: far below any working machine microphone, above the 16-bit quantisation floor (about -101 dBFS)
MIN_RMS_DB = -80.0
CLIP_LEVEL = 0.999
MAX_CLIPPED_FRACTION = 0.01
# decoded frames may fall short of a compressed file's header estimate by this share before it counts as truncated
FRAME_SHORTFALL_TOLERANCE = 0.01
_BLOCK_FRAMES = 1 << 13
_WAV_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # streaming writers leave the data size unset


class QualityProblem(str, Enum):
    """Why a clip cannot be judged; the value is what the ``quality`` column shows."""

    UNDECODABLE = "undecodable"
    EMPTY = "empty"
    TOO_LONG = "too_long"
    TRUNCATED = "truncated"
    NON_FINITE = "non_finite"
    TOO_SHORT = "too_short"
    LOW_SAMPLE_RATE = "low_sample_rate"
    SILENT = "silent"
    NEAR_SILENT = "near_silent"
    CLIPPED = "clipped"


@dataclass(frozen=True)
class QualityLimits:
    """What a clip must satisfy to be scored by one detector.

    Attributes:
        min_seconds: shortest clip, in seconds (one feature chunk of the detector).
        min_sample_rate: lowest file rate in Hz whose band covers the detector's (twice its top frequency).
        max_seconds: longest clip in seconds; None: no limit.
        min_rms_db: RMS floor in dBFS; quieter clips are ``near_silent``.
        clip_level: absolute sample value counted as full scale.
        max_clipped_fraction: largest share of full-scale samples accepted.
    """

    min_seconds: float
    min_sample_rate: int
    max_seconds: float | None = None
    min_rms_db: float = MIN_RMS_DB
    clip_level: float = CLIP_LEVEL
    max_clipped_fraction: float = MAX_CLIPPED_FRACTION


@dataclass(frozen=True)
class ClipQuality:
    """The gate's verdict on one file.

    Attributes:
        problem: why the clip cannot be judged; None when it can.
        reason: one line naming the clip, the problem and the fix; empty when it passed.
        sample_rate: the file's rate in Hz (None when unreadable).
        seconds: the file's decoded length (None when unreadable).
        rms_db: RMS of the mono mix in dBFS (None when not measured).
        clipped_fraction: share of full-scale samples (None when not measured).
    """

    problem: QualityProblem | None
    reason: str = ""
    sample_rate: int | None = None
    seconds: float | None = None
    rms_db: float | None = None
    clipped_fraction: float | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def label(self) -> str:
        """``ok`` or the problem's name, as the ``quality`` column shows it."""
        return QUALITY_OK if self.problem is None else self.problem.value


class _GateError(Exception):
    def __init__(self, problem: QualityProblem, reason: str, **measured: float | int | None) -> None:
        super().__init__(reason)
        self.problem, self.reason, self.measured = problem, reason, measured


def _wav_data_shortfall(path: Path) -> tuple[int, int] | None:
    """(declared, present) bytes of a RIFF/WAVE file's ``data`` chunk when fewer are present than declared."""
    with open(path, "rb") as f:
        if f.read(12)[8:12] != b"WAVE":
            return None
        size = path.stat().st_size
        while True:
            header = f.read(8)
            if len(header) < 8:
                return None
            chunk_id, length = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk_id == b"data":
                present = size - f.tell()
                return (length, present) if length not in _WAV_UNKNOWN_SIZES and present < length else None
            f.seek(length + (length & 1), os.SEEK_CUR)


def _decode(path: Path, name: str, max_seconds: float | None) -> tuple[np.ndarray, int]:
    """(n, channels) float32 samples and rate, or :class:`_GateError` for the decoding problems."""
    from soundsentry.data.audio import audio_info

    try:
        info = audio_info(path)
    except SoundSentryError as err:
        raise _GateError(QualityProblem.UNDECODABLE, str(err).splitlines()[0]) from None
    rate, frames = info.sample_rate, info.frames
    if frames == 0:
        raise _GateError(QualityProblem.EMPTY, f"{name}: no audio samples (0 frames); record the clip again")
    if max_seconds is not None and info.duration > max_seconds:
        raise _GateError(
            QualityProblem.TOO_LONG,
            f"{name}: clip is {info.duration:.3f} s, longer than the limit of {max_seconds:g} s; split it",
            sample_rate=rate,
            seconds=info.duration,
        )
    shortfall = _wav_data_shortfall(path) if info.format.upper().startswith("WAV") else None
    if shortfall is not None:
        declared, present = shortfall
        raise _GateError(
            QualityProblem.TRUNCATED,
            f"{name}: truncated, the WAV header announces {declared} bytes of audio but only {present} are there; "
            "copy or record the file again",
            sample_rate=rate,
        )
    blocks, error = _read_blocks(path)
    got = sum(len(b) for b in blocks)
    if error is not None and got == 0:
        raise _GateError(
            QualityProblem.UNDECODABLE,
            f"{name}: cannot be decoded as audio ({error}); the file is corrupt, record or export it again",
            sample_rate=rate,
        )
    if error is not None or got < frames * (1.0 - FRAME_SHORTFALL_TOLERANCE):
        raise _GateError(
            QualityProblem.TRUNCATED,
            f"{name}: truncated, decoding stops after {got / rate:.3f} s of the {frames / rate:.3f} s its header "
            "announces; copy or record the file again",
            sample_rate=rate,
            seconds=got / rate,
        )
    return np.concatenate(blocks), rate


def _read_blocks(path: Path) -> tuple[list[np.ndarray], str | None]:
    """The file's samples in blocks, and the decoder's error (one line) if it stopped early."""
    import soundfile as sf

    blocks: list[np.ndarray] = []
    try:
        with sf.SoundFile(str(path)) as f:
            while True:
                block = f.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
                if not len(block):
                    return blocks, None
                blocks.append(block)
    except (sf.SoundFileError, RuntimeError) as err:
        text = " ".join((getattr(err, "error_string", None) or str(err) or type(err).__name__).split())
        return blocks, text.rstrip(".") or type(err).__name__


def _levels(x: np.ndarray, rate: int, limits: QualityLimits) -> dict[str, float]:
    """Rate, length, RMS of the mono mix (dBFS) and share of full-scale samples of ``x: (n, channels)``."""
    mono = x.mean(axis=1, dtype=np.float64)
    rms_db = 20.0 * math.log10(max(float(np.sqrt(np.mean(mono**2))), 1e-20))
    clipped = float(np.mean(np.max(np.abs(x), axis=1) >= limits.clip_level))
    return {"sample_rate": rate, "seconds": len(x) / rate, "rms_db": rms_db, "clipped_fraction": clipped}


def _judge(x: np.ndarray, rate: int, name: str, limits: QualityLimits) -> dict[str, float]:
    """The levels of decoded samples ``x: (n, channels)`` at ``rate``; :class:`_GateError` for their first problem."""
    seconds = len(x) / rate
    if not np.isfinite(x).all():
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise _GateError(
            QualityProblem.NON_FINITE,
            f"{name}: contains {bad} NaN or infinite sample(s); re-export the file or drop it",
            sample_rate=rate,
            seconds=seconds,
        )
    if seconds < limits.min_seconds:
        raise _GateError(
            QualityProblem.TOO_SHORT,
            f"{name}: clip is {seconds:.4f} s, shorter than this detector's minimum of {limits.min_seconds:.4f} s "
            "(one feature chunk); record a longer clip",
            sample_rate=rate,
            seconds=seconds,
        )
    if rate < limits.min_sample_rate:
        raise _GateError(
            QualityProblem.LOW_SAMPLE_RATE,
            f"{name}: recorded at {rate} Hz, so nothing above {rate / 2:g} Hz, but this detector listens up to "
            f"{limits.min_sample_rate / 2:g} Hz; record at {limits.min_sample_rate} Hz or more",
            sample_rate=rate,
            seconds=seconds,
        )
    measured = _levels(x, rate, limits)
    rms_db, clipped = measured["rms_db"], measured["clipped_fraction"]
    if float(np.max(np.abs(x.mean(axis=1)))) < SILENCE_PEAK:
        raise _GateError(
            QualityProblem.SILENT, f"{name}: silent (all zeros); check the microphone and its cable", **measured
        )
    if rms_db < limits.min_rms_db:
        raise _GateError(
            QualityProblem.NEAR_SILENT,
            f"{name}: near-silent (RMS {rms_db:.1f} dBFS, below {limits.min_rms_db:g} dBFS); check the microphone "
            "and its gain",
            **measured,
        )
    if clipped > limits.max_clipped_fraction:
        raise _GateError(
            QualityProblem.CLIPPED,
            f"{name}: clipped ({100 * clipped:.1f} % of the samples at full scale, over "
            f"{100 * limits.max_clipped_fraction:g} %); lower the recording gain",
            **measured,
        )
    return measured


def check_clip(path: str | os.PathLike[str], limits: QualityLimits, *, name: str | None = None) -> ClipQuality:
    """Decode ``path`` and decide whether a detector with ``limits`` can judge it; never raises for bad audio.

    Args:
        path: the audio file.
        limits: the detector's requirements (:meth:`~soundsentry.deploy.Detector.quality_limits`).
        name: how the reason names the clip (the service's upload name); default: the path.

    Returns:
        The verdict: ``problem`` None when the clip can be scored, else the first problem found and a one-line
        reason.
    """
    return gate_clip(path, limits, name=name)[0]


def gate_clip(
    path: str | os.PathLike[str], limits: QualityLimits, *, name: str | None = None
) -> tuple[ClipQuality, np.ndarray | None, int | None]:
    """:func:`check_clip`, and the samples it decoded: ``(verdict, samples (n, channels) float32, rate)``, the
    samples and rate None when the clip fails. A caller that goes on to score the clip conditions these samples
    (:func:`~soundsentry.training.features.condition_recipe_audio`) instead of decoding the file again."""
    label = str(path) if name is None else name
    try:
        x, rate = _decode(Path(path), label, limits.max_seconds)
        measured = _judge(x, rate, label, limits)
    except _GateError as failed:
        reason = " ".join(failed.reason.replace(str(path), label).split())
        return ClipQuality(failed.problem, reason, **failed.measured), None, None  # type: ignore[arg-type]
    return ClipQuality(None, "", **measured), x, rate  # type: ignore[arg-type]


def min_clip_samples(pipeline: FeaturePipeline) -> int:
    """Fewest samples (at the pipeline's rate) whose features fill one whole chunk of ``chunk_width`` frames.

    Found by bisection on silent probes through the front-end, so it holds for any registered front-end (STFT with
    or without centring, log-mel, the waveform front-end whose frames are samples).
    """
    import torch

    device = next((b.device for b in pipeline.buffers()), torch.device("cpu"))
    width = int(pipeline.chunk_width)

    def frames(n: int) -> int:
        try:
            with torch.no_grad():
                return int(pipeline.frontend(torch.zeros(1, n, device=device)).shape[-1])
        except SoundSentryError:  # e.g. an uncentred STFT refuses fewer samples than n_fft
            return 0

    high = 1
    while frames(high) < width:
        high *= 2
        if high > 1 << 28:
            raise ConfigError(f"the front-end never gives {width} frames; check features.chunk_width")
    low = high // 2  # frames(low) < width, or low == 0
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if frames(mid) >= width else (mid, high)
    return high


def band_top_hz(pipeline: FeaturePipeline, sample_rate: int) -> float:
    """The highest frequency the detector's front-end looks at: its ``fmax`` when set, else the Nyquist frequency."""
    fmax = getattr(pipeline.frontend, "fmax", None)
    return float(fmax) if fmax else sample_rate / 2.0


def min_seconds_of(pipeline: FeaturePipeline, sample_rate: int) -> float:
    """The detector's minimum clip length in seconds (one whole feature chunk), as ``detector.json`` states it."""
    return min_clip_samples(pipeline) / float(sample_rate)


def recipe_min_seconds(recipe: Recipe) -> float:
    """:func:`min_seconds_of` for a recipe's feature pipeline (what ``export`` writes as ``min_seconds``)."""
    from soundsentry.training.features import build_feature_pipeline

    return min_seconds_of(build_feature_pipeline(recipe), int(recipe.features.sample_rate))


__all__ = [
    "QUALITY_OK",
    "ClipQuality",
    "QualityLimits",
    "QualityProblem",
    "band_top_hz",
    "check_clip",
    "gate_clip",
    "min_clip_samples",
    "min_seconds_of",
    "recipe_min_seconds",
]
