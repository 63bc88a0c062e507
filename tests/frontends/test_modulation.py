"""The modulation-spectrum front-end and the stack front-end that puts it beside a log-mel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soundsentry.errors import ConfigError
from soundsentry.frontends import LogMel, Modulation, Stack
from soundsentry.frontends.modulation import modulation_band_edges
from soundsentry.registry import FRONTENDS

SR = 16000


def _am_noise(rate_hz: float | None, seconds: float = 3.0, seed: int = 0) -> torch.Tensor:
    """White noise, amplitude-modulated at ``rate_hz`` (None: steady)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    x = rng.standard_normal(t.size)
    if rate_hz is not None:
        x = x * (1.0 + 0.9 * np.sin(2 * np.pi * rate_hz * t))
    return torch.tensor(x[None], dtype=torch.float32)


def _band_of(front: Modulation, rate_hz: float) -> int:
    edges = front.modulation_edges_hz
    return int(np.searchsorted(edges, rate_hz, side="right")) - 1


def test_band_edges_are_exactly_n_mod_increasing_bands() -> None:
    for n_mod in (1, 5, 12, 20, 40, 128):
        edges = modulation_band_edges(129, n_mod)
        assert edges.size == n_mod + 1 and edges[0] == 1 and edges[-1] == 129
        assert np.all(np.diff(edges) >= 1)
    assert list(modulation_band_edges(129, 20)[:5]) == [1, 2, 3, 4, 5]  # low rates: single bins
    with pytest.raises(ConfigError, match="lower n_mod or raise window_frames"):
        modulation_band_edges(129, 129)


@pytest.mark.parametrize("seconds", [0.05, 0.5, 2.0, 3.3])
def test_frames_line_up_with_a_logmel_of_the_same_hop(seconds: float) -> None:
    front = Modulation(sample_rate=SR)
    mel = LogMel(sample_rate=SR, n_fft=4096, hop_length=1024, n_mels=64)
    wave = _am_noise(None, seconds)
    out = front(wave)
    assert out.shape == (1, 1, 8 * 20, mel(wave).shape[-1]) == (1, 1, front.n_bins, front.num_frames(wave.shape[1]))
    assert torch.isfinite(out).all()


def test_a_modulated_noise_peaks_at_its_modulation_rate() -> None:
    front = Modulation(sample_rate=SR)
    bin_hz = SR / (64 * 256)  # modulation bins 0.977 Hz apart
    steady = front(_am_noise(None))[0, 0].reshape(8, 20, -1)[:, :, 8:-8].mean(dim=(0, 2))
    for k in (4, 12, 35, 61):  # rates on bin centres: about 3.9, 11.7, 34 and 60 Hz
        mod = front(_am_noise(k * bin_hz))[0, 0].reshape(8, 20, -1)[:, :, 8:-8]  # frames away from the ends
        profile = mod.mean(dim=(0, 2))  # mean over mel bands and frames
        band = _band_of(front, k * bin_hz)
        assert float(profile[band] - steady[band]) > 10.0  # dB above the steady noise
        if k < 61:  # up to ~30 Hz the rate's band is the highest; faster ones are damped by the 32 ms STFT window
            assert int(profile.argmax()) == band, (k, profile)


def test_level_does_not_change_the_modulation_spectrum() -> None:
    front = Modulation(sample_rate=SR)
    wave = _am_noise(7.0, seconds=1.5)
    torch.testing.assert_close(front(wave * 10.0), front(wave), atol=1e-2, rtol=0)


def test_modulation_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError, match="frame_hop must be a positive multiple of hop_length"):
        Modulation(frame_hop=1000)
    with pytest.raises(ConfigError, match="window_frames must be an even integer"):
        Modulation(window_frames=255)
    with pytest.raises(ConfigError, match="n_mod must be a positive integer"):
        Modulation(n_mod=0)
    assert isinstance(FRONTENDS.create("modulation", sample_rate=SR), Modulation)


def test_stack_concatenates_its_parts_rows() -> None:
    parts = [
        {"name": "logmel", "n_fft": 1024, "hop_length": 1024, "n_mels": 32},
        {"name": "modulation", "n_bands": 4, "n_mod": 6},
    ]
    stack = FRONTENDS.create("stack", sample_rate=SR, parts=parts)
    wave = _am_noise(5.0, seconds=1.2)
    out = stack(wave)
    mel = LogMel(sample_rate=SR, n_fft=1024, hop_length=1024, n_mels=32)(wave)
    mod = Modulation(sample_rate=SR, n_bands=4, n_mod=6)(wave)
    assert stack.part_bins == [32, 24] and stack.n_bins == 56 and out.shape[2] == 56
    torch.testing.assert_close(out, torch.cat([mel, mod], dim=2))


def test_stack_rejects_parts_that_do_not_line_up() -> None:
    logmel = {"name": "logmel", "n_fft": 1024, "hop_length": 512, "n_mels": 32}
    with pytest.raises(ConfigError, match="different frame counts.*same hop"):
        Stack(parts=[logmel, {"name": "modulation"}])
    with pytest.raises(ConfigError, match="at least two"):
        Stack(parts=[logmel])
    with pytest.raises(ConfigError, match=r"parts\[1\] \(modulation\) has sample_rate 8000"):
        Stack(parts=[logmel, {"name": "modulation", "sample_rate": 8000}])
    with pytest.raises(ConfigError, match=r"parts\[1\] \(nope\)"):
        Stack(parts=[logmel, {"name": "nope"}])
    with pytest.raises(ConfigError, match=r"parts\[0\] \(stft_chunks\) gives 2 channels"):
        Stack(parts=[{"name": "stft_chunks", "n_fft": 1022, "folds": 2}, logmel])
