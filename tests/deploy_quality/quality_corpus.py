"""A corpus of recordings a detector cannot judge, generated as bytes: each case names the gate's problem.

Every case is built at run time (nothing is stored): ``make(min_samples)`` returns the file's bytes, where
``min_samples`` is the detector's minimum clip length at 16 kHz, so the "too short" cases sit just under it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import soundfile as sf

RATE = 16000
SUBTYPES = {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}


@dataclass(frozen=True)
class Case:
    """One bad recording: its file name, how to make its bytes, and the problem the gate must name."""

    name: str
    make: Callable[[int], bytes]
    problem: str

    @property
    def id(self) -> str:
        return self.name.replace(".", "_")


def encode(x: np.ndarray, fmt: str = "WAV", rate: int = RATE, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, x, rate, format=fmt, subtype=subtype or SUBTYPES[fmt])
    return buffer.getvalue()


def noise(seconds: float, rate: int = RATE, level: float = 0.1, seed: int = 0) -> np.ndarray:
    """Machine-like noise: white noise plus a tone, well inside full scale."""
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    x = level * np.random.default_rng(seed).standard_normal(n) + 0.05 * np.sin(2 * np.pi * 440 * t)
    return x.astype(np.float32)


def _cut(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


def _nan(x: np.ndarray, value: float, every: int) -> np.ndarray:
    y = x.copy()
    y[::every] = value
    return y


def _header_only_wav() -> bytes:
    return encode(np.zeros(0, dtype=np.float32))


def _one_lsb_dither(seconds: float) -> np.ndarray:
    """A dead input with 16-bit dither: +-1 LSB at random, about -93 dBFS."""
    n = int(seconds * RATE)
    return (np.random.default_rng(1).integers(-1, 2, n) / 32768.0).astype(np.float32)


def _square(seconds: float, rate: int = RATE) -> np.ndarray:
    """Noise amplified 20x: most samples pinned at full scale."""
    return np.clip(20 * noise(seconds, rate), -1.0, 1.0).astype(np.float32)


CASES: list[Case] = [
    # too short for one feature chunk: padding would fill it, so 1 sample scored "anomaly" and 0.1 s "normal"
    Case("one_sample.wav", lambda m: encode(noise(1 / RATE)), "too_short"),
    Case("tenth_second.wav", lambda m: encode(noise(0.1)[: max(1, min(1600, m - 1))]), "too_short"),
    Case("just_under_min.wav", lambda m: encode(noise(1.0)[: m - 1]), "too_short"),
    Case("short.flac", lambda m: encode(noise(1.0)[: m // 2], "FLAC"), "too_short"),
    Case("short.ogg", lambda m: encode(noise(1.0)[: m // 2], "OGG"), "too_short"),
    # a dead microphone: all zeros, in every container
    Case("zeros.wav", lambda m: encode(np.zeros(RATE // 2, np.float32)), "silent"),
    Case("zeros.flac", lambda m: encode(np.zeros(RATE // 2, np.float32), "FLAC"), "silent"),
    Case("zeros_float.wav", lambda m: encode(np.zeros(RATE // 2, np.float32), subtype="FLOAT"), "silent"),
    Case("zeros.ogg", lambda m: encode(np.zeros(RATE // 2, np.float32), "OGG"), "silent"),
    # near-silent: a disconnected input's noise floor
    Case("dither.wav", lambda m: encode(_one_lsb_dither(0.5)), "near_silent"),
    Case("hiss_float.wav", lambda m: encode(1e-5 * noise(0.5), subtype="FLOAT"), "near_silent"),
    Case("hiss.flac", lambda m: encode(_one_lsb_dither(0.5), "FLAC"), "near_silent"),
    # clipped: the gain was too high
    Case("clipped.wav", lambda m: encode(_square(0.5)), "clipped"),
    Case("clipped.flac", lambda m: encode(_square(0.5), "FLAC"), "clipped"),
    Case("over_full_scale.wav", lambda m: encode(20 * noise(0.5), subtype="FLOAT"), "clipped"),
    # below the detector's band: 8 kHz or 11 kHz recordings for a 16 kHz detector
    Case("rate8k.wav", lambda m: encode(noise(0.5, 8000), rate=8000), "low_sample_rate"),
    Case("rate11k.flac", lambda m: encode(noise(0.5, 11025), "FLAC", rate=11025), "low_sample_rate"),
    Case("rate8k.ogg", lambda m: encode(noise(0.5, 8000), "OGG", rate=8000), "low_sample_rate"),
    # truncated: a copy cut short (the header announces more than is there)
    Case("truncated.wav", lambda m: _cut(encode(noise(0.5)), 0.5), "truncated"),
    Case("truncated_float.wav", lambda m: _cut(encode(noise(0.5), subtype="FLOAT"), 0.6), "truncated"),
    Case("truncated.flac", lambda m: _cut(encode(noise(5.0), "FLAC"), 0.5), "truncated"),
    # NaN / inf samples
    Case("nan.wav", lambda m: encode(np.full(RATE // 2, np.nan, np.float32), subtype="FLOAT"), "non_finite"),
    Case("one_nan.wav", lambda m: encode(_nan(noise(0.5), np.nan, 4001), subtype="FLOAT"), "non_finite"),
    Case("inf.wav", lambda m: encode(_nan(noise(0.5), np.inf, 997), subtype="FLOAT"), "non_finite"),
    # not decodable at all
    Case("garbage.wav", lambda m: b"RIFF\x10\x00\x00\x00WAVEjunk that is not audio", "undecodable"),
    Case("empty.wav", lambda m: b"", "undecodable"),
    Case("text.flac", lambda m: b"this is a text file with an audio name\n" * 20, "undecodable"),
    Case("garbage.ogg", lambda m: b"OggS" + bytes(range(256)) * 4, "undecodable"),
    Case("header_only.wav", lambda m: _header_only_wav(), "empty"),
]
