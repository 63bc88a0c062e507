"""The input-quality gate decodes each file once and hands its samples on: the detector's loader is not called
again, and the clip it scores is exactly what the loader would have given (rate, channel policy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundsentry.deploy import Detector
from soundsentry.deploy.quality import gate_clip
from soundsentry.training import features as feature_module


def _stereo_32k(src: Path, dst: Path) -> Path:
    """``src`` resampled by soundfile-free means (sample repetition) to a two-channel 32 kHz file."""
    x, rate = sf.read(src, dtype="float32")
    y = np.repeat(x, 2)  # 32 kHz, same duration
    sf.write(dst, np.stack([y, 0.5 * y], axis=1), 2 * rate, subtype="FLOAT")
    return dst


def test_gate_samples_condition_to_what_the_loader_gives(
    quality_detector: Detector, good_clips: list[Path], tmp_path: Path
) -> None:
    for path in [good_clips[0], _stereo_32k(good_clips[1], tmp_path / "stereo32k.wav")]:
        verdict, wave = quality_detector.gate_and_load(path)
        assert verdict.ok and wave is not None
        np.testing.assert_array_equal(wave, quality_detector.load_clip(path))


def test_score_file_decodes_once(
    quality_detector: Detector, good_clips: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = quality_detector.score_file(good_clips[0], "fan", "00")
    assert expected.decision in ("normal", "anomaly")

    def second_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was decoded a second time")

    monkeypatch.setattr(feature_module, "load_audio", second_decode)
    monkeypatch.setattr(Detector, "load_clip", second_decode)
    got = quality_detector.score_file(good_clips[0], "fan", "00")
    assert got.decision == expected.decision and got.score == pytest.approx(expected.score)


def test_a_refused_clip_hands_on_no_samples(quality_detector: Detector, tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    verdict, samples, rate = gate_clip(silent, quality_detector.quality_limits())
    assert not verdict.ok and samples is None and rate is None
    assert quality_detector.gate_and_load(silent) == (verdict, None)
