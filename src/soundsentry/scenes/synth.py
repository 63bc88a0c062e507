"""A generated stand-in for TAU Urban Acoustic Scenes 2020 Mobile, written in its layout.

Each scene is a recipe of coloured noise, a few steady tones, an amplitude modulation and random transient events;
each city moves those parameters a little; each device colours the recording with its own filter and noise floor,
so a model trained on some devices meets a real device shift on others. Deterministic by seed.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from soundsentry.data.audio import write_audio
from soundsentry.errors import ConfigError
from soundsentry.io import atomic_write_text

TAU_SCENES = (
    "airport",
    "bus",
    "metro",
    "metro_station",
    "park",
    "public_square",
    "shopping_mall",
    "street_pedestrian",
    "street_traffic",
    "tram",
)
TAU_CITIES = ("barcelona", "helsinki", "lisbon", "london", "lyon", "milan", "paris", "prague", "stockholm", "vienna")
# (kind, low Hz, high Hz, gain dB, noise floor) of each device; "a" is the reference device.
DEVICE_FILTERS: dict[str, tuple[str, float, float, float, float]] = {
    "a": ("band", 20.0, 20000.0, 0.0, 1e-4),
    "b": ("band", 250.0, 9000.0, -3.0, 1e-3),
    "c": ("band", 120.0, 5000.0, 2.0, 2e-3),
    "s1": ("band", 400.0, 12000.0, -6.0, 3e-3),
    "s2": ("band", 60.0, 3500.0, 0.0, 1e-3),
    "s3": ("band", 800.0, 16000.0, -2.0, 5e-3),
}


@dataclass(frozen=True)
class SceneSynthConfig:
    """What :func:`synth_scenes` generates.

    Attributes:
        n_scenes: scene classes (the first ones of the TAU list).
        cities: recording cities.
        devices: devices, each with a filter in :data:`DEVICE_FILTERS`.
        clips_per_group: clips per (scene, city, device).
        evaluate_devices_only: devices that appear only in the evaluation split (TAU: s4-s6).
        seconds: clip length (TAU: 10 s).
        sample_rate: rate of the written files (TAU: 44.1 kHz).
        evaluate_fraction: share of each (scene, city, device) group in the evaluation split (TAU: 30 %).
        seed: random seed.
    """

    n_scenes: int = 4
    cities: Sequence[str] = ("barcelona", "helsinki", "lisbon")
    devices: Sequence[str] = ("a", "b", "c", "s1")
    clips_per_group: int = 4
    evaluate_devices_only: Sequence[str] = ()
    seconds: float = 1.0
    sample_rate: int = 44100
    evaluate_fraction: float = 0.3
    seed: int = 0

    def validate(self) -> None:
        if not 1 <= self.n_scenes <= len(TAU_SCENES):
            raise ConfigError(f"n_scenes must lie in 1..{len(TAU_SCENES)}, got {self.n_scenes}")
        unknown = [d for d in self.devices if d not in DEVICE_FILTERS]
        if unknown:
            raise ConfigError(f"unknown device(s) {unknown}; known devices: {', '.join(DEVICE_FILTERS)}")
        bad_cities = [c for c in self.cities if c not in TAU_CITIES]
        if bad_cities or not self.cities:
            raise ConfigError(f"cities must be among {', '.join(TAU_CITIES)}, got {list(self.cities)}")
        if self.clips_per_group < 1 or self.seconds <= 0:
            raise ConfigError("clips_per_group must be >= 1 and seconds > 0")


def _rng(*keys: object) -> np.random.Generator:
    """A generator seeded by a stable hash of ``keys`` (independent of Python's hash randomisation)."""
    return np.random.default_rng(zlib.crc32(repr(keys).encode()))


def _scene_clip(scene: int, city: int, n: int, sr: int, rng: np.random.Generator, seed: int) -> np.ndarray:
    """One clip of scene ``scene`` in city ``city``: scene parameters are fixed by (seed, scene)."""
    p = _rng(seed, "scene", scene)
    c = _rng(seed, "city", scene, city)
    t = np.arange(n) / sr
    # Coloured noise: spectral tilt per scene.
    tilt = p.uniform(-1.5, 0.5) + c.normal(0, 0.1) + rng.normal(0, 0.3)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    spec *= (np.maximum(f, 20.0) / 1000.0) ** (tilt / 2)
    x = np.fft.irfft(spec, n)
    x /= np.std(x) + 1e-12
    # Steady tones (engines, ventilation, hum) and a slow amplitude modulation.
    for f0 in p.uniform(80, 4000, size=3) * (1 + c.normal(0, 0.02)):
        x += p.uniform(0.2, 1.0) * rng.uniform(0.3, 1.5) * np.sin(2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi))
    rate = p.uniform(0.5, 8.0)
    x *= 1 + 0.6 * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    # Transient events (steps, doors, brakes) at a scene-specific rate.
    n_events = rng.poisson(p.uniform(0, 6) * n / sr)
    burst = int(0.02 * sr)
    for start in rng.integers(0, max(1, n - burst), size=n_events):
        x[start : start + burst] += 3 * rng.standard_normal(burst) * np.hanning(burst)
    return x / (np.max(np.abs(x)) + 1e-12)


def _device(x: np.ndarray, device: str, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Colour a clip with the device's band-pass response, gain and noise floor."""
    _, low, high, gain_db, floor = DEVICE_FILTERS[device]
    high = min(high, 0.45 * sr)
    sos = signal.butter(2, [low, high], btype="bandpass", fs=sr, output="sos")
    y = signal.sosfilt(sos, x) * 10 ** (gain_db / 20)
    y = y + floor * rng.standard_normal(len(y))
    return 0.5 * y / (np.max(np.abs(y)) + 1e-12) if np.max(np.abs(y)) > 1 else y


def synth_scenes(out: str | Path, config: SceneSynthConfig | None = None) -> Path:
    """Write a generated scene set in the TAU 2020 Mobile layout under ``out``; returns ``out``.

    Files: ``audio/<scene>-<city>-<location>-<segment>-<device>.wav`` (16-bit, ``sample_rate``), ``meta.csv`` and
    ``evaluation_setup/fold1_{train,evaluate}.csv`` (tab-separated, with TAU's headers). Every file is written
    through a temporary file.
    """
    cfg = config or SceneSynthConfig()
    cfg.validate()
    out = Path(out)
    n = int(round(cfg.seconds * cfg.sample_rate))
    meta, train, evaluate = [], [], []
    for s, scene in enumerate(TAU_SCENES[: cfg.n_scenes]):
        for ci, city in enumerate(cfg.cities):
            for device in cfg.devices:
                n_eval = int(round(cfg.evaluate_fraction * cfg.clips_per_group))
                for k in range(cfg.clips_per_group):
                    rng = _rng(cfg.seed, scene, city, device, k)
                    x = _device(_scene_clip(s, ci, n, cfg.sample_rate, rng, cfg.seed), device, cfg.sample_rate, rng)
                    # One location per (device, clip) so that no location spans both splits.
                    location = f"{cfg.devices.index(device) * 1000 + k}"
                    name = f"{scene}-{city}-{location}-0-{device}.wav"
                    write_audio(out / "audio" / name, x.astype(np.float32), cfg.sample_rate)
                    meta.append(f"audio/{name}\t{scene}\t{city}-{location}\t{device}")
                    is_eval = device in cfg.evaluate_devices_only or k < n_eval
                    (evaluate if is_eval else train).append(f"audio/{name}\t{scene}")
    atomic_write_text(out / "meta.csv", "filename\tscene_label\tidentifier\tsource_label\n" + "\n".join(meta) + "\n")
    for split, rows in (("train", train), ("evaluate", evaluate)):
        text = "filename\tscene_label\n" + "\n".join(rows) + "\n"
        atomic_write_text(out / "evaluation_setup" / f"fold1_{split}.csv", text)
    return out
