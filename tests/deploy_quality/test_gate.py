"""The input-quality gate on its own: every case of the bad-input corpus, good clips of every format, limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from quality_corpus import CASES, RATE, Case, encode, noise

import soundsentry.frontends  # noqa: F401  (registers the front-ends)
from soundsentry.deploy.quality import (
    QualityLimits,
    QualityProblem,
    band_top_hz,
    check_clip,
    min_clip_samples,
)
from soundsentry.registry import FRONTENDS
from soundsentry.training.features import FeaturePipeline

MIN_SAMPLES = 1984  # the tiny detector's minimum: (32 - 1) chunk frames x hop 64, centred STFT
LIMITS = QualityLimits(min_seconds=MIN_SAMPLES / RATE, min_sample_rate=RATE)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_bad_recording_is_refused_with_its_problem_and_one_line(case: Case, tmp_path: Path) -> None:
    path = tmp_path / case.name
    path.write_bytes(case.make(MIN_SAMPLES))
    verdict = check_clip(path, LIMITS)
    assert not verdict.ok
    assert verdict.label == case.problem, verdict.reason
    assert verdict.reason.startswith(str(path)) and "\n" not in verdict.reason
    renamed = check_clip(path, LIMITS, name="upload.wav")  # the service names the upload, not its temporary file
    assert renamed.reason.startswith("upload.wav") and str(tmp_path) not in renamed.reason


def test_the_corpus_covers_every_problem_but_too_long() -> None:
    assert len(CASES) >= 25
    assert {c.problem for c in CASES} == {p.value for p in QualityProblem} - {"too_long"}


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("clip.wav", encode(noise(0.5))),
        ("clip.flac", encode(noise(0.5), "FLAC")),
        ("clip.ogg", encode(noise(0.5), "OGG")),
        ("clip.mp3", encode(noise(0.5), "MP3")),
        ("clip44k.wav", encode(noise(0.5, 44100), rate=44100)),
        ("stereo.wav", encode(np.stack([noise(0.5), noise(0.5, seed=1)], axis=1))),
        ("exact_min.wav", encode(noise(1.0)[:MIN_SAMPLES])),
        ("quiet_but_alive.wav", encode(0.003 * noise(0.5))),  # about -50 dBFS: a quiet machine, not a dead one
        ("one_peak.wav", encode(np.concatenate([noise(0.5), np.ones(20, np.float32)]))),  # a few full-scale samples
    ],
)
def test_good_recordings_pass(name: str, data: bytes, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    verdict = check_clip(path, LIMITS)
    assert verdict.ok and verdict.label == "ok" and verdict.reason == "", verdict.reason
    assert verdict.seconds is not None and verdict.seconds >= LIMITS.min_seconds


def test_too_long_is_read_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    path.write_bytes(encode(noise(3.0)))
    verdict = check_clip(path, QualityLimits(min_seconds=0.1, min_sample_rate=RATE, max_seconds=2.0))
    assert verdict.label == "too_long" and "longer than the limit of 2 s" in verdict.reason


def _pipeline(name: str, width: int, **kwargs: object) -> FeaturePipeline:
    from soundsentry.config import FeatureConfig

    return FeaturePipeline(FRONTENDS.create(name, **kwargs), FeatureConfig(chunk_width=width))


@pytest.mark.parametrize(
    ("name", "width", "kwargs", "expected"),
    [
        ("stft_chunks", 32, {"n_fft": 126, "hop_length": 64}, 31 * 64),  # centred: 1 + N // hop frames
        ("stft_chunks", 32, {"n_fft": 254, "hop_length": 128}, 31 * 128),  # the demo recipe: 0.248 s
        ("stft_chunks", 8, {"n_fft": 256, "hop_length": 64, "center": False}, 256 + 7 * 64),  # 1 + (N - n_fft) // hop
        ("logmel", 16, {"n_fft": 512, "hop_length": 160, "n_mels": 32}, 15 * 160),
        ("waveform", 4000, {}, 4000),  # frames are samples
    ],
)
def test_min_clip_samples_is_one_whole_chunk(name: str, width: int, kwargs: dict, expected: int) -> None:
    pipeline = _pipeline(name, width, **kwargs)
    n = min_clip_samples(pipeline)
    assert n == expected
    with torch.no_grad():
        assert pipeline(torch.zeros(1, n)).shape[1] == 1
        assert pipeline.frontend(torch.zeros(1, n - 1)).shape[-1] < width  # one sample less: not a whole chunk


def test_band_top_is_the_front_ends_fmax_or_nyquist() -> None:
    assert band_top_hz(_pipeline("logmel", 16, n_fft=512, hop_length=160, n_mels=32, fmax=4000.0), RATE) == 4000.0
    assert band_top_hz(_pipeline("stft_chunks", 32, n_fft=126, hop_length=64), RATE) == RATE / 2
