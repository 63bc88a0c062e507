"""Audio I/O: load clips with validation, write clips atomically.

Every problem with a file is an :class:`~soundsentry.errors.AudioError` whose one-line message names the file and
the fix; an all-silent clip is only a :class:`SilentAudioWarning`. Invalid arguments (an unknown length policy, a
non-positive rate) are a :class:`~soundsentry.errors.ConfigError`.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import soxr

from soundsentry.errors import AudioError, ConfigError
from soundsentry.io import atomic_output

LengthPolicy = Literal["crop", "pad", "tile", "none"]
LENGTH_POLICIES: tuple[str, ...] = ("crop", "pad", "tile", "none")
# Channel policies by name; an int picks that channel. DCASE 2026: left = near microphone, right = far microphone.
ChannelPolicy = Literal["mean", "left", "right", "both"]
CHANNEL_POLICIES: tuple[str, ...] = ("mean", "left", "right", "both")
_NAMED_CHANNELS = {"left": 0, "right": 1}
SILENCE_PEAK = 1e-8
# Resampling can leave a clip a few samples short of its nominal length; "crop" zero-pads a shortfall this small.
CROP_TOLERANCE_S = 0.01
# Extensions that name a soundfile format differently; RAW is left out because it has no header to read the rate from.
_EXTENSION_ALIASES = {"AIF": "AIFF", "AIFC": "AIFF", "OGA": "OGG", "OPUS": "OGG", "WAVE": "WAV"}


class SilentAudioWarning(UserWarning):
    """A clip is all zeros (peak below ``SILENCE_PEAK``): usable, but most likely a recording fault."""


@dataclass(frozen=True)
class AudioInfo:
    """Header of an audio file, read without decoding the samples.

    Attributes:
        sample_rate: in Hz.
        channels: number of channels (8 for raw MIMII files).
        frames: samples per channel.
        duration: in seconds.
        format: soundfile container name, e.g. ``WAV``.
        subtype: soundfile sample encoding, e.g. ``PCM_16``.
    """

    sample_rate: int
    channels: int
    frames: int
    duration: float
    format: str
    subtype: str


def supported_extensions() -> list[str]:
    """Lower-case file extensions (with the dot) that :func:`load_audio` accepts."""
    names = {f.lower() for f in sf.available_formats() if f != "RAW"}
    names |= {alias.lower() for alias, fmt in _EXTENSION_ALIASES.items() if fmt.lower() in names}
    return sorted(f".{name}" for name in names)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _open(path: str | os.PathLike[str]) -> sf.SoundFile:
    """Open ``path`` for reading, turning every way it can fail into a one-line :class:`AudioError`."""
    p = Path(path)
    if not p.exists():
        raise AudioError(f"{path}: file not found; check the path or re-run the prepare step to refresh the manifest.")
    if p.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file; pass the path of a file inside it.")
    extensions = supported_extensions()
    if p.suffix.lower() not in extensions:
        raise AudioError(
            f"{path}: unsupported audio format {p.suffix or '(no extension)'!r}; "
            f"convert it to WAV or FLAC (supported extensions: {', '.join(extensions)})."
        )
    if p.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes); delete it or replace it with a valid recording.")
    try:
        return sf.SoundFile(str(p))
    except (sf.SoundFileError, RuntimeError, TypeError) as err:
        reason = getattr(err, "error_string", None) or str(err)
        raise AudioError(
            f"{path}: cannot be decoded as audio ({_one_line(reason).rstrip('.')}); the file is corrupt or truncated, "
            "re-download or re-export it."
        ) from err


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Read the header of an audio file without decoding its samples.

    Args:
        path: audio file.

    Returns:
        The file's rate, channel count, length and encoding; an empty file gives ``frames == 0``.

    Raises:
        AudioError: the file is missing, empty (0 bytes), of an unsupported format or unreadable.
    """
    with _open(path) as f:
        rate, frames = int(f.samplerate), int(f.frames)
        return AudioInfo(rate, int(f.channels), frames, frames / rate, str(f.format), str(f.subtype))


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_arguments(sample_rate: int, channel: str | int, duration: float | None, length_policy: str) -> None:
    if not _is_int(sample_rate) or sample_rate <= 0:
        raise ConfigError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}.")
    if channel not in CHANNEL_POLICIES and not _is_int(channel):
        raise ConfigError(
            f"channel must be one of {', '.join(CHANNEL_POLICIES)} or a channel index (int), got {channel!r}."
        )
    if length_policy not in LENGTH_POLICIES:
        raise ConfigError(f"unknown length_policy {length_policy!r}; valid policies: {', '.join(LENGTH_POLICIES)}.")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise ConfigError(f"duration must be a positive number of seconds or None, got {duration!r}.")


def _select_channel(path: str | os.PathLike[str], x: np.ndarray, channel: str | int) -> np.ndarray:
    """(n, channels) -> (n,) by averaging the channels or picking one, or (C, n) for ``"both"``."""
    n_channels = x.shape[1]
    if channel == "mean":
        return x.mean(axis=1, dtype=np.float32) if n_channels > 1 else x[:, 0]
    if channel == "both":
        if n_channels < 2:
            raise AudioError(
                f"{path}: channel='both' needs a multi-channel file (DCASE 2026: near and far microphone) but this "
                "one is mono; use channel='mean' or 'left' for mono data."
            )
        return np.ascontiguousarray(x.T)
    index = _NAMED_CHANNELS.get(str(channel), channel)
    if not 0 <= int(index) < n_channels:
        asked = f"channel {channel!r} (index {index})" if channel in _NAMED_CHANNELS else f"channel {channel}"
        raise AudioError(
            f"{path}: {asked} was asked but the file has {n_channels} channel(s); "
            f"pass channel='mean' or an index from 0 to {n_channels - 1}."
        )
    return x[:, int(index)]


def _fit_length(path: str | os.PathLike[str], x: np.ndarray, rate: int, duration: float, policy: str) -> np.ndarray:
    """Crop (from the start), zero-pad or tile (..., n_in) samples to exactly (..., round(duration * rate))."""
    n, length = round(duration * rate), x.shape[-1]
    if length >= n:
        return x[..., :n]
    if policy == "tile":
        return np.tile(x, (1,) * (x.ndim - 1) + (-(-n // length),))[..., :n]
    if policy == "crop" and n - length > CROP_TOLERANCE_S * rate:
        raise AudioError(
            f"{path}: clip is {length / rate:.3f} s, shorter than duration={duration:g} s, and "
            "length_policy='crop' cannot lengthen it; use length_policy='pad' or 'tile', or set min_seconds to skip it."
        )
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, n - length)])


def load_audio(
    path: str | os.PathLike[str],
    sample_rate: int,
    *,
    channel: ChannelPolicy | int = "mean",
    duration: float | None = None,
    length_policy: LengthPolicy = "crop",
    min_seconds: float | None = None,
    max_seconds: float | None = None,
    resample: bool = True,
) -> np.ndarray:
    """Decode, validate, down-mix, resample and length-fix one clip.

    Args:
        path: audio file in a format libsndfile reads (WAV, FLAC, OGG ...; see :func:`supported_extensions`).
        sample_rate: rate of the returned samples, in Hz.
        channel: ``"mean"`` averages the channels; ``"left"`` / ``"right"`` pick channel 0 / 1 (DCASE 2026: the
            near / far microphone); an int picks that channel (raw MIMII files have 8); ``"both"`` keeps every
            channel of a multi-channel file as (C, n) and refuses a mono one.
        duration: target length in seconds, applied after resampling; None keeps the clip's own length.
        length_policy: how to reach ``duration``: a longer clip is always cut from the start; a shorter one is
            refused by ``"crop"`` (a shortfall under ``CROP_TOLERANCE_S`` is zero-padded), zero-padded by
            ``"pad"``, repeated by ``"tile"``; ``"none"`` ignores ``duration``.
        min_seconds: refuse clips shorter than this (measured on the file, before any length policy).
        max_seconds: refuse clips longer than this (measured on the file, before any length policy).
        resample: if False, a file at another rate than ``sample_rate`` is an error instead of being resampled.

    Returns:
        (n,) float32 mono samples, or (C, n) with ``channel="both"``; n = ``round(duration * sample_rate)`` when a
        duration and policy apply.

    Raises:
        AudioError: the file is missing, unreadable, of an unsupported format, empty, contains NaN or inf, has no
            such channel, is at the wrong rate with ``resample=False``, or is too short or too long.
        ConfigError: an argument value is invalid.

    Warns:
        SilentAudioWarning: the clip is all zeros.
    """
    _check_arguments(sample_rate, channel, duration, length_policy)
    with _open(path) as f:
        rate, frames = int(f.samplerate), int(f.frames)
        if frames == 0:
            raise AudioError(f"{path}: file has no samples (0 frames); delete it or replace it with a valid recording.")
        if rate != sample_rate and not resample:
            raise AudioError(
                f"{path}: sample rate is {rate} Hz but {sample_rate} Hz was asked with resample=False; "
                "pass resample=True or convert the file."
            )
        seconds = frames / rate
        if min_seconds is not None and seconds < min_seconds:
            raise AudioError(
                f"{path}: clip is {seconds:.3f} s, shorter than min_seconds={min_seconds:g}; "
                "remove the file or lower min_seconds."
            )
        if max_seconds is not None and seconds > max_seconds:
            raise AudioError(
                f"{path}: clip is {seconds:.3f} s, longer than max_seconds={max_seconds:g}; "
                "remove or split the file, or raise max_seconds."
            )
        try:
            x = f.read(dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError) as err:
            raise AudioError(
                f"{path}: decoding failed ({_one_line(str(err))}); the file is corrupt, re-download or re-export it."
            ) from err
    if len(x) == 0:
        raise AudioError(f"{path}: no samples could be decoded; the file is truncated, re-download or re-export it.")
    if not np.isfinite(x).all():
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise AudioError(f"{path}: contains {bad} NaN or infinite sample(s); re-export the file or drop it.")
    return condition_samples(
        path, x, rate, sample_rate, channel=channel, duration=duration, length_policy=length_policy, stacklevel=3
    )


def condition_samples(
    path: str | os.PathLike[str],
    x: np.ndarray,
    rate: int,
    sample_rate: int,
    *,
    channel: ChannelPolicy | int = "mean",
    duration: float | None = None,
    length_policy: LengthPolicy = "crop",
    stacklevel: int = 2,
) -> np.ndarray:
    """What :func:`load_audio` does after decoding: pick or mix the channels, resample, fix the length.

    For samples already decoded (the input-quality gate decodes every file once and hands its samples on, so a
    deployed detector does not decode a file twice).

    Args:
        path: the file the samples came from (named in errors and warnings only).
        x: (n, channels) float32 decoded samples, finite.
        rate: their sample rate in Hz.
        sample_rate, channel, duration, length_policy: as :func:`load_audio`.
        stacklevel: of the silence warning.

    Returns:
        As :func:`load_audio`.
    """
    _check_arguments(sample_rate, channel, duration, length_policy)
    y = _select_channel(path, x, channel)
    if float(np.max(np.abs(y))) < SILENCE_PEAK:
        where = "" if channel in ("mean", "both") else f" (channel {channel})"
        message = f"{path}{where}: clip is silent (peak below {SILENCE_PEAK:g}); check the recording"
        warnings.warn(message, SilentAudioWarning, stacklevel=stacklevel)
    if rate != sample_rate:  # soxr takes (n,) or (n, C)
        y = soxr.resample(y.T if y.ndim == 2 else y, rate, sample_rate, quality="HQ").astype(np.float32, copy=False)
        y = y.T if y.ndim == 2 else y
    if duration is not None and length_policy != "none":
        y = _fit_length(path, y, sample_rate, duration, length_policy)
    return np.ascontiguousarray(y, dtype=np.float32)


def write_audio(path: str | os.PathLike[str], samples: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> None:
    """Write a clip to ``path`` (WAV/FLAC by extension) through a temporary file, so no half-written file remains.

    Args:
        path: destination file.
        samples: (n,) mono or (n, channels) audio in [-1, 1].
        sample_rate: in Hz.
        subtype: soundfile subtype, 16-bit PCM by default as in the DCASE data.
    """
    with atomic_output(path) as tmp:
        sf.write(tmp, samples, sample_rate, subtype=subtype)
