"""Tests for soundsentry.data.audio: the bad-input corpus, resampling, channels, length policies, writing."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundsentry.data.audio import (
    AudioInfo,
    SilentAudioWarning,
    audio_info,
    load_audio,
    supported_extensions,
    write_audio,
)
from soundsentry.errors import AudioError, ConfigError

SHARED_FAN = Path(__file__).resolve().parents[2].parent / "shared/data/real/sensiml_fan"
# Nine real SensiML fan recordings are valid WAV headers with no frames; this is one of them.
REAL_EMPTY = SHARED_FAN / "dataset/test/OFF_20210210T011445_6.wav"


def sine(freq: float, rate: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav(path: Path, samples: np.ndarray, rate: int = 16000, subtype: str = "FLOAT") -> Path:
    sf.write(path, samples, rate, subtype=subtype)
    return path


def check_message(err: pytest.ExceptionInfo[BaseException], path: Path, *words: str) -> None:
    """The message is one line, names the file and contains each key word (case-insensitive)."""
    message = str(err.value)
    assert "\n" not in message and "\r" not in message
    assert path.name in message
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"


# --- the bad-input corpus ------------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.wav"
    for read in (lambda: load_audio(path, 16000), lambda: audio_info(path)):
        with pytest.raises(AudioError, match=re.escape(path.name)) as err:
            read()
        check_message(err, path, "not found", "check the path")


def test_directory(tmp_path: Path) -> None:
    path = tmp_path / "folder.wav"
    path.mkdir()
    with pytest.raises(AudioError, match=re.escape(path.name)) as err:
        load_audio(path, 16000)
    check_message(err, path, "directory")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("garbage.wav", b"this is not audio at all " * 40),
        ("truncated_header.wav", None),
        ("garbage.flac", b"\x00\x01\x02\x03" * 100),
    ],
)
def test_corrupt_file(tmp_path: Path, name: str, content: bytes | None) -> None:
    path = tmp_path / name
    if content is None:  # the first 20 bytes of a valid WAV: RIFF header and a cut-off fmt chunk
        wav(tmp_path / "good.wav", sine(440, 16000, 0.1))
        content = (tmp_path / "good.wav").read_bytes()[:20]
    path.write_bytes(content)
    for read in (lambda: load_audio(path, 16000), lambda: audio_info(path)):
        with pytest.raises(AudioError, match=re.escape(path.name)) as err:
            read()
        check_message(err, path, "cannot be decoded", "corrupt", "re-download")


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match=re.escape(path.name)) as err:
        load_audio(path, 16000)
    check_message(err, path, "empty", "0 bytes")


def test_empty_wav_header_without_frames(tmp_path: Path) -> None:
    path = wav(tmp_path / "no_frames.wav", np.zeros(0, dtype=np.float32), subtype="PCM_16")
    assert audio_info(path).frames == 0
    with pytest.raises(AudioError, match=re.escape(path.name)) as err:
        load_audio(path, 16000)
    check_message(err, path, "no samples", "0 frames", "replace")


@pytest.mark.real_data
@pytest.mark.skipif(not REAL_EMPTY.is_file(), reason=f"real SensiML fan data not found at {SHARED_FAN}")
def test_real_empty_sensiml_file() -> None:
    info = audio_info(REAL_EMPTY)
    assert (info.frames, info.sample_rate, info.format) == (0, 16000, "WAV")
    with pytest.raises(AudioError, match=re.escape(REAL_EMPTY.name)) as err:
        load_audio(REAL_EMPTY, 16000)
    check_message(err, REAL_EMPTY, "no samples")


@pytest.mark.parametrize("name", ["notes.txt", "video.mp4", "no_extension", "headerless.raw"])
def test_unsupported_format(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"some bytes that are not a supported container")
    for read in (lambda: load_audio(path, 16000), lambda: audio_info(path)):
        with pytest.raises(AudioError, match=re.escape(path.name)) as err:
            read()
        check_message(err, path, "unsupported audio format", "convert", ".wav", ".flac")


def test_supported_extensions_follow_soundfile() -> None:
    extensions = supported_extensions()
    assert {".wav", ".flac", ".ogg", ".aiff"} <= set(extensions)
    assert ".raw" not in extensions and ".txt" not in extensions
    assert all(f".{fmt.lower()}" in extensions for fmt in sf.available_formats() if fmt != "RAW")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path: Path, bad: float) -> None:
    x = sine(440, 16000, 0.1)
    x[100] = bad
    path = wav(tmp_path / "nonfinite.wav", x, subtype="FLOAT")
    with pytest.raises(AudioError, match=re.escape(path.name)) as err:
        load_audio(path, 16000)
    check_message(err, path, "NaN or infinite", "1 ")


def test_bad_channel_index(tmp_path: Path) -> None:
    path = wav(tmp_path / "eight.wav", np.tile(sine(440, 16000, 0.1)[:, None], (1, 8)))
    with pytest.raises(AudioError, match=re.escape(path.name)) as err:
        load_audio(path, 16000, channel=8)
    check_message(err, path, "channel 8", "8 channel(s)", "from 0 to 7", "channel='mean'")
    with pytest.raises(AudioError, match="channel -1"):
        load_audio(path, 16000, channel=-1)
    mono = wav(tmp_path / "mono.wav", sine(440, 16000, 0.1))
    with pytest.raises(AudioError, match=r"channel 1 was asked but the file has 1 channel"):
        load_audio(mono, 16000, channel=1)
    assert load_audio(mono, 16000, channel=0).shape == (1600,)


def test_wrong_rate_without_resampling(tmp_path: Path) -> None:
    path = wav(tmp_path / "cd.wav", sine(440, 44100, 0.1), rate=44100)
    with pytest.raises(AudioError) as err:
        load_audio(path, 16000, resample=False)
    assert str(err.value) == (
        f"{path}: sample rate is 44100 Hz but 16000 Hz was asked with resample=False; "
        "pass resample=True or convert the file."
    )
    assert load_audio(path, 44100, resample=False).shape == (4410,)


def test_too_short_and_too_long(tmp_path: Path) -> None:
    path = wav(tmp_path / "half.wav", sine(440, 16000, 0.5))
    with pytest.raises(AudioError, match=re.escape(path.name)) as err:
        load_audio(path, 16000, min_seconds=1.0)
    check_message(err, path, "0.500 s", "shorter than min_seconds=1", "lower min_seconds")
    with pytest.raises(AudioError, match=re.escape(path.name)) as err:
        load_audio(path, 16000, max_seconds=0.25)
    check_message(err, path, "0.500 s", "longer than max_seconds=0.25", "raise max_seconds")
    assert load_audio(path, 16000, min_seconds=0.5, max_seconds=0.5).shape == (8000,)


def test_crop_refuses_a_clearly_shorter_clip(tmp_path: Path) -> None:
    path = wav(tmp_path / "short.wav", sine(440, 16000, 0.5))
    with pytest.raises(AudioError, match=re.escape(path.name)) as err:
        load_audio(path, 16000, duration=1.0, length_policy="crop")
    check_message(err, path, "shorter than duration=1 s", "length_policy='pad' or 'tile'")


def test_invalid_arguments_are_config_errors(tmp_path: Path) -> None:
    path = wav(tmp_path / "ok.wav", sine(440, 16000, 0.1))
    with pytest.raises(ConfigError, match="unknown length_policy 'stretch'; valid policies: crop, pad, tile, none"):
        load_audio(path, 16000, duration=1.0, length_policy="stretch")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="channel must be one of mean, left, right, both or a channel index"):
        load_audio(path, 16000, channel="near")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="sample_rate must be a positive integer"):
        load_audio(path, 0)
    with pytest.raises(ConfigError, match="duration must be a positive number"):
        load_audio(path, 16000, duration=-1.0)


def test_silent_clip_warns_but_loads(tmp_path: Path) -> None:
    path = wav(tmp_path / "silence.wav", np.zeros(1600, dtype=np.float32), subtype="PCM_16")
    with pytest.warns(SilentAudioWarning, match=re.escape(path.name)):
        x = load_audio(path, 16000)
    np.testing.assert_array_equal(x, np.zeros(1600, dtype=np.float32))


def test_quiet_but_not_silent_clip_does_not_warn(tmp_path: Path) -> None:
    path = wav(tmp_path / "quiet.wav", sine(440, 16000, 0.1, amp=1e-4))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SilentAudioWarning)
        load_audio(path, 16000)


# --- decoding, resampling, channels --------------------------------------------------------------------------------


def test_audio_info_reads_the_header(tmp_path: Path) -> None:
    path = wav(tmp_path / "stereo.wav", np.zeros((24000, 2), dtype=np.float32) + 0.1, rate=48000, subtype="PCM_16")
    info = audio_info(path)
    assert info == AudioInfo(sample_rate=48000, channels=2, frames=24000, duration=0.5, format="WAV", subtype="PCM_16")
    with pytest.raises(AttributeError):
        info.frames = 1  # type: ignore[misc]


@pytest.mark.parametrize("source_rate", [48000, 44100, 22050])
def test_resampling_keeps_the_tone_and_sets_the_length(tmp_path: Path, source_rate: int) -> None:
    path = wav(tmp_path / f"tone_{source_rate}.wav", sine(1000, source_rate, 1.0), rate=source_rate)
    x = load_audio(path, 16000)
    assert x.dtype == np.float32 and x.shape == (16000,) and x.flags.c_contiguous
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), d=1 / 16000)
    assert freqs[np.argmax(spectrum)] == pytest.approx(1000, abs=1.0)
    # High-quality resampling keeps the amplitude of an in-band tone.
    assert np.max(np.abs(x[1000:-1000])) == pytest.approx(0.5, abs=0.01)


def test_channel_mean_and_pick_on_an_eight_channel_file(tmp_path: Path) -> None:
    base = sine(440, 16000, 0.2)
    gains = np.arange(1, 9, dtype=np.float32) / 10
    path = wav(tmp_path / "mimii_raw.wav", base[:, None] * gains[None, :])
    assert audio_info(path).channels == 8
    for c in (0, 3, 7):
        np.testing.assert_allclose(load_audio(path, 16000, channel=c), base * gains[c], atol=1e-6)
    np.testing.assert_allclose(load_audio(path, 16000), base * gains.mean(), atol=1e-6)
    # Down-mixing and resampling are both linear, so picking or averaging commutes with the rate change.
    picked, mixed = load_audio(path, 8000, channel=3), load_audio(path, 8000)
    np.testing.assert_allclose(picked, mixed * gains[3] / gains.mean(), atol=1e-6)


# --- length policies -----------------------------------------------------------------------------------------------


def test_crop_cuts_a_longer_clip_from_the_start(tmp_path: Path) -> None:
    ramp = np.linspace(-0.9, 0.9, 16000, dtype=np.float32)
    path = wav(tmp_path / "ramp.wav", ramp)
    for policy in ("crop", "pad", "tile"):
        np.testing.assert_array_equal(load_audio(path, 16000, duration=0.25, length_policy=policy), ramp[:4000])


def test_crop_pads_a_resampling_shortfall(tmp_path: Path) -> None:
    path = wav(tmp_path / "nearly.wav", sine(440, 16000, 0.999))  # 16 samples short of 1 s, under 10 ms
    x = load_audio(path, 16000, duration=1.0, length_policy="crop")
    assert x.shape == (16000,) and np.all(x[-16:] == 0)


def test_pad_appends_zeros(tmp_path: Path) -> None:
    ramp = np.linspace(0.1, 0.9, 4000, dtype=np.float32)
    path = wav(tmp_path / "ramp.wav", ramp)
    x = load_audio(path, 16000, duration=0.6, length_policy="pad")
    assert x.shape == (9600,)
    np.testing.assert_array_equal(x[:4000], ramp)
    np.testing.assert_array_equal(x[4000:], 0)


def test_tile_repeats_the_clip(tmp_path: Path) -> None:
    ramp = np.linspace(0.1, 0.9, 4000, dtype=np.float32)
    path = wav(tmp_path / "ramp.wav", ramp)
    x = load_audio(path, 16000, duration=0.6, length_policy="tile")
    assert x.shape == (9600,)
    np.testing.assert_array_equal(x, np.concatenate([ramp, ramp, ramp[:1600]]))


def test_none_and_no_duration_keep_the_natural_length(tmp_path: Path) -> None:
    path = wav(tmp_path / "odd.wav", sine(440, 16000, 0.3))
    assert load_audio(path, 16000, duration=1.0, length_policy="none").shape == (4800,)
    assert load_audio(path, 16000).shape == (4800,)


def test_duration_applies_after_resampling(tmp_path: Path) -> None:
    path = wav(tmp_path / "fast.wav", sine(1000, 48000, 0.5), rate=48000)
    assert load_audio(path, 16000, duration=2.0, length_policy="tile").shape == (32000,)
    assert load_audio(path, 16000, duration=0.1, length_policy="crop").shape == (1600,)


# --- writing -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "subtype", "atol"), [(".wav", "PCM_16", 1 / 32768), (".flac", "PCM_16", 1 / 32768)])
def test_write_audio_round_trip(tmp_path: Path, suffix: str, subtype: str, atol: float) -> None:
    x = sine(440, 16000, 0.2)
    path = tmp_path / "out" / f"clip{suffix}"
    write_audio(path, x, 16000, subtype=subtype)
    np.testing.assert_allclose(load_audio(path, 16000, resample=False), x, atol=atol)
    assert audio_info(path).subtype == subtype
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_write_audio_float_round_trip_is_exact_and_keeps_channels(tmp_path: Path) -> None:
    x = np.stack([sine(440, 16000, 0.1), sine(880, 16000, 0.1)], axis=1)
    path = tmp_path / "stereo.wav"
    write_audio(path, x, 16000, subtype="FLOAT")
    assert audio_info(path).channels == 2
    np.testing.assert_array_equal(load_audio(path, 16000, channel=1), x[:, 1])


def test_failed_write_leaves_no_file_behind(tmp_path: Path) -> None:
    path = tmp_path / "broken.wav"
    with pytest.raises((ValueError, TypeError, RuntimeError)):
        write_audio(path, sine(440, 16000, 0.1), 16000, subtype="NOT_A_SUBTYPE")
    assert list(tmp_path.iterdir()) == []
    # A failed overwrite keeps the previous file intact.
    write_audio(path, sine(440, 16000, 0.1), 16000)
    before = path.read_bytes()
    with pytest.raises((ValueError, TypeError, RuntimeError)):
        write_audio(path, np.zeros((2, 2, 2)), 16000)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
