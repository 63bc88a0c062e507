"""Sound models of the generated benchmark: one class per machine type, plus factory background noise.

A model turns a *unit* (one section: the nominal parameters of one physical machine), an operating *condition*
(one domain: speed, load, background noise) and a per-clip random generator into a mono waveform. Every model is
built from a few physical ingredients: tones whose phase integrates a jittered shaft speed, impulses exciting
damped structural resonances, band-limited friction/airflow noise, and modulation by shaft angle or stroke
position. Anomalies are faults of the same machine (bearing defects, imbalance, a damaged blade, missing or late
valve clicks, rubbing, rattles ...) whose strength is drawn per clip so that some are subtle.

All levels are relative: :func:`soundsentry.data.synth.render_clip` normalises the mixture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

from soundsentry.registry import Registry

TWO_PI = 2.0 * np.pi
NOISE_KINDS = ("A", "B", "C")  # A: hall (pink + mains hum), B: workshop (brown + distant impacts), C: HVAC + machine
# Every unit of a type stands in the same hall in the source domain, so the background tells no section from
# another (a section classifier must learn the machine); the target domain moves it to another room.
SOURCE_NOISE = "A"
TARGET_NOISES = ("B", "C")  # by section number (cycled)
TARGET_SPEED = (1.25, 0.8, 1.4, 0.7)  # target/source speed ratio by section number (cycled)
SOURCE_SNRS = (6, 9)  # dB, machine over background, source domain
TARGET_SNRS = (2, 5)  # the target domain is also noisier
ANOMALY_DB = (-25.0, -5.0)  # additive fault level relative to the normal machine sound, at severity 0 and 1


# --- signal ingredients ------------------------------------------------------------------------------------------


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)) + 1e-20))


def smooth_noise(rng: np.random.Generator, n: int, sr: int, rate_hz: float) -> np.ndarray:
    """A random curve with unit-variance knots about ``rate_hz`` apart, linearly interpolated: (n,)."""
    knots = max(int(n / sr * rate_hz) + 2, 2)
    return np.interp(np.linspace(0.0, knots - 1.0, n), np.arange(knots), rng.standard_normal(knots))


def shaped_noise(
    rng: np.random.Generator, n: int, sr: int, lo: float = 20.0, hi: float | None = None, slope_db_oct: float = 0.0
) -> np.ndarray:
    """Gaussian noise with a spectral tilt (dB per octave) and soft band edges (24 dB/oct), unit RMS: (n,)."""
    hi = min(hi or sr / 2, 0.45 * sr)
    f = np.fft.rfftfreq(n, 1.0 / sr)
    f[0] = f[1]
    gain = (f / 1000.0) ** (slope_db_oct / 6.02) / (1.0 + (lo / f) ** 4) / (1.0 + (f / hi) ** 4)
    spec = (rng.standard_normal(f.size) + 1j * rng.standard_normal(f.size)) * gain
    x = np.fft.irfft(spec, n)
    return x / rms(x)


def harmonics(phase: np.ndarray, amps: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sum of ``amps[k] * sin((k + 1) * phase + offsets[k])``: (n,)."""
    k = np.arange(1, len(amps) + 1)[:, None]
    return np.asarray(amps) @ np.sin(k * phase[None, :] + np.asarray(offsets)[:, None])


def tone(phase: np.ndarray, freq_hz: float, sr: int) -> np.ndarray:
    """sin(phase), silenced when the (nominal) frequency would alias."""
    return np.sin(phase) if freq_hz < 0.45 * sr else np.zeros_like(phase)


def ringing(
    rng: np.random.Generator,
    n: int,
    sr: int,
    onsets: np.ndarray,
    amps: np.ndarray,
    modes: list[tuple[float, float, float]],
    noise: float = 0.3,
) -> np.ndarray:
    """Impulses at ``onsets`` (s) that excite damped resonances ``modes`` = [(Hz, decay s, amplitude)]: (n,).

    ``noise`` adds a short broadband contact burst to each impulse, as a metallic click has.
    """
    length = int(5 * max(m[1] for m in modes) * sr) + 1
    t = np.arange(length) / sr
    kernel = sum(a * np.exp(-t / tau) * np.sin(TWO_PI * min(f, 0.45 * sr) * t) for f, tau, a in modes)
    kernel = kernel + noise * rng.standard_normal(length) * np.exp(-t / 4e-4)
    train = np.zeros(n)
    idx = np.round(np.asarray(onsets) * sr).astype(int)
    ok = (idx >= 0) & (idx < n)
    np.add.at(train, idx[ok], np.asarray(amps, dtype=float)[ok])
    return fftconvolve(train, kernel)[:n]


def angle_pulse(angle: np.ndarray, centre: float, sharpness: float) -> np.ndarray:
    """A once-per-revolution bump (von Mises shape) at ``centre`` rad, zero mean over a revolution."""
    p = np.exp(sharpness * (np.cos(angle - centre) - 1.0))
    return p - p.mean()


def shaft_phase(rng: np.random.Generator, freq: np.ndarray | float, n: int, sr: int) -> np.ndarray:
    """Integrated phase (rad) of a rotation at ``freq`` Hz (scalar or (n,)), with a random start angle."""
    f = np.broadcast_to(np.asarray(freq, dtype=float), (n,))
    return TWO_PI * np.cumsum(f) / sr + rng.uniform(0.0, TWO_PI)


def noise_environment(rng: np.random.Generator, kind: str) -> dict:
    """The fixed character of one factory floor (one domain of one unit): colour, hum, events, distant machine."""
    return {
        "kind": kind,
        "slope": {"A": rng.uniform(-3.5, -2.5), "B": rng.uniform(-6.0, -4.5), "C": rng.uniform(-2.0, -1.0)}[kind],
        "hum": rng.uniform(0.05, 0.25, 3),
        "impact_modes": [(rng.uniform(150, 700), 0.03, 1.0), (rng.uniform(900, 2500), 0.01, 0.5)],
        "machine_hz": rng.uniform(90.0, 250.0),
        "machine_amps": rng.uniform(0.02, 0.15, 4),
    }


def factory_noise(rng: np.random.Generator, env: dict, n: int, sr: int) -> np.ndarray:
    """Background of the factory floor ``env`` (see :func:`noise_environment`), unit RMS: (n,)."""
    t = np.arange(n) / sr
    level = 1.0 + 0.2 * smooth_noise(rng, n, sr, 1.0)
    slope = env["slope"] + rng.uniform(-0.15, 0.15)
    if env["kind"] == "A":  # large hall: pink noise, mains hum and its odd harmonics
        x = shaped_noise(rng, n, sr, 30.0, 7000.0, slope) * level
        hum = env["hum"] * rng.uniform(0.8, 1.2, 3) / np.array([1.0, 3.0, 5.0])
        x = x + sum(
            a * np.sin(TWO_PI * 50.0 * k * t + rng.uniform(0, TWO_PI)) for a, k in zip(hum, (1, 3, 5), strict=True)
        )
    elif env["kind"] == "B":  # workshop: brown noise and distant hammering / dropped parts
        x = shaped_noise(rng, n, sr, 20.0, 5000.0, slope) * level
        count = rng.poisson(3.0 * n / sr)
        onsets = rng.uniform(0.0, n / sr, count)
        x = x + 0.5 * ringing(rng, n, sr, onsets, rng.uniform(0.2, 1.0, count), env["impact_modes"], noise=0.1)
    else:  # ventilation hiss and another machine running in the distance
        x = shaped_noise(rng, n, sr, 80.0, 7500.0, slope) * level
        f0 = env["machine_hz"] * (1.0 + 0.01 * rng.standard_normal())
        amps = env["machine_amps"] * rng.uniform(0.8, 1.2, 4)
        x = x + harmonics(TWO_PI * f0 * t, amps, rng.uniform(0, TWO_PI, 4))
    return x / rms(x)


# --- machine models ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """Operating condition of one domain of one unit.

    Attributes:
        speed: main rate of the machine (rpm, cycles or strokes per minute).
        load: integer load / pressure setting 0-4.
        noise: background kind, one of :data:`NOISE_KINDS`.
        snrs: machine-to-background ratios (dB) a clip draws from.
    """

    speed: float
    load: int
    noise: str
    snrs: tuple[int, ...]


class MachineModel:
    """One machine type. Variants set ``speed_key``/``load_key``/``anomalies`` and override three hooks."""

    name = ""
    speed_key = "spd"
    load_key = "load"
    anomalies: tuple[str, ...] = ()

    def unit(self, rng: np.random.Generator, section: int) -> dict[str, float]:
        """Nominal parameters of the machine of ``section`` (must contain ``speed`` and ``load``)."""
        raise NotImplementedError(f"{type(self).__name__} must define unit()")

    def condition(self, unit: dict[str, float], section: int, domain: str) -> Condition:
        """Source: nominal speed/load; target: shifted speed and load, another background, lower SNR."""
        if domain == "source":
            return Condition(unit["speed"], int(unit["load"]), SOURCE_NOISE, SOURCE_SNRS)
        speed = unit["speed"] * TARGET_SPEED[section % len(TARGET_SPEED)]
        noise = TARGET_NOISES[section % len(TARGET_NOISES)]
        return Condition(speed, (int(unit["load"]) + 2) % 5, noise, TARGET_SNRS)

    def attributes(self, cond: Condition) -> dict[str, str]:
        return {self.speed_key: str(int(round(cond.speed))), self.load_key: str(cond.load)}

    def render(
        self, rng: np.random.Generator, unit: dict, cond: Condition, n: int, sr: int, anomaly: str | None, sev: float
    ) -> np.ndarray:
        """Machine sound alone (no background): (n,). ``sev`` in [0, 1] is the fault severity."""
        raise NotImplementedError(f"{type(self).__name__} must define render()")

    @staticmethod
    def add_fault(base: np.ndarray, fault: np.ndarray, sev: float) -> np.ndarray:
        """Add an additive fault sound at a level set by severity relative to the normal sound."""
        db = ANOMALY_DB[0] + sev * (ANOMALY_DB[1] - ANOMALY_DB[0])
        return base + fault * (rms(base) / rms(fault) * 10.0 ** (db / 20.0))


MACHINES: Registry[MachineModel] = Registry("synthetic machine type")


def _jittered_speed(rng: np.random.Generator, cond: Condition, n: int, sr: int, spread: float = 0.015) -> np.ndarray:
    """Per-clip speed within the domain (+-spread) with a slow 0.3 % wander: (n,)."""
    return cond.speed * (1.0 + rng.uniform(-spread, spread)) * (1.0 + 0.003 * smooth_noise(rng, n, sr, 2.0))


@MACHINES.register("fan")
class Fan(MachineModel):
    """Axial fan: blade-pass tone (blades x rpm) with harmonics, shaft 1x, airflow noise modulated at blade pass."""

    name = "fan"
    anomalies = ("imbalance", "blade_damage", "rubbing", "speed_hunting")

    def unit(self, rng: np.random.Generator, section: int) -> dict:
        return {
            "speed": (1200.0, 1320.0, 1140.0, 1260.0)[section % 4],
            "load": float(section % 3 + 1),
            "blades": 7,
            "bpf_amps": rng.uniform(0.2, 1.0, 5) / np.arange(1, 6),
            "air_lo": rng.uniform(60.0, 200.0),
            "air_slope": rng.uniform(-4.0, -2.0),
            "air_level": rng.uniform(0.5, 0.9),
        }

    def render(self, rng, unit, cond, n, sr, anomaly, sev):  # noqa: D102 - documented on the base class
        rpm = _jittered_speed(rng, cond, n, sr)
        if anomaly == "speed_hunting":  # unstable drive: speed oscillates at a few Hz
            rpm = rpm * (1.0 + (0.01 + 0.05 * sev) * np.sin(TWO_PI * rng.uniform(1.0, 4.0) * np.arange(n) / sr))
        phi = shaft_phase(rng, rpm / 60.0, n, sr)
        blades = unit["blades"]
        pressure = 0.6 + 0.2 * cond.load
        amps = unit["bpf_amps"] * pressure * rng.uniform(0.9, 1.1, 5)
        blade_pass = harmonics(blades * phi, amps, rng.uniform(0, TWO_PI, 5))
        air = shaped_noise(rng, n, sr, unit["air_lo"], 7000.0, unit["air_slope"])
        air = air * (1.0 + rng.uniform(0.05, 0.2) * np.cos(blades * phi)) * unit["air_level"] * rng.uniform(0.92, 1.08)
        shaft = rng.uniform(0.02, 0.08) * np.sin(phi + rng.uniform(0, TWO_PI))
        if anomaly == "blade_damage":  # one blade differs: the blade-pass tone is modulated once per revolution
            blade_pass = blade_pass * (1.0 + (0.2 + 1.2 * sev) * angle_pulse(phi, rng.uniform(0, TWO_PI), 8.0))
        base = blade_pass + air + shaft
        if anomaly == "imbalance":  # 1x vibration and 1x modulation of the whole sound
            base = base * (1.0 + (0.05 + 0.4 * sev) * np.cos(phi))
            return self.add_fault(base, np.sin(phi) + 0.3 * np.sin(2 * phi), sev)
        if anomaly == "rubbing":  # a tip touching the housing once per revolution
            scrape = shaped_noise(rng, n, sr, 2000.0, 7000.0) * np.maximum(angle_pulse(phi, 0.0, 30.0), 0.0)
            return self.add_fault(base, scrape, sev)
        return base


@MACHINES.register("motor")
class Motor(MachineModel):
    """Induction motor on rolling bearings: shaft harmonics, 2x mains hum, slot whine, rolling noise."""

    name = "motor"
    anomalies = ("bearing_outer", "bearing_inner", "imbalance", "looseness")

    def unit(self, rng: np.random.Generator, section: int) -> dict:
        return {
            "speed": (1480.0, 1440.0, 1500.0, 1460.0)[section % 4],
            "load": float((section + 1) % 3),
            "harm": rng.uniform(0.1, 0.6, 6) / np.arange(1, 7) ** 0.7,
            "slots": 36.0,
            "balls": 9.0,
            "ratio": rng.uniform(0.18, 0.28),  # ball / pitch diameter
            "resonance": rng.uniform(2500.0, 5000.0),
            "rolling_lo": rng.uniform(1200.0, 2500.0),
            "hum": rng.uniform(0.1, 0.3, 3),
            "whine": rng.uniform(0.05, 0.15),
            "cooling": rng.uniform(0.2, 0.4),
        }

    def render(self, rng, unit, cond, n, sr, anomaly, sev):  # noqa: D102 - documented on the base class
        t = np.arange(n) / sr
        slip = 1.0 - 0.008 * cond.load
        fr = _jittered_speed(rng, cond, n, sr, spread=0.01) * slip / 60.0
        phi = shaft_phase(rng, fr, n, sr)
        load = 0.5 + 0.25 * cond.load
        shaft = harmonics(phi, unit["harm"] * rng.uniform(0.9, 1.1, 6), rng.uniform(0, TWO_PI, 6))
        hum = load * sum(
            a * rng.uniform(0.9, 1.1) / k * np.sin(TWO_PI * 100.0 * k * t + rng.uniform(0, TWO_PI))
            for a, k in zip(unit["hum"], (1, 2, 3), strict=True)
        )
        slot_f = unit["slots"] * fr.mean()
        slot_phase = unit["slots"] * phi
        whine = (
            unit["whine"]
            * rng.uniform(0.9, 1.1)
            * (tone(slot_phase, slot_f, sr) + 0.4 * np.cos(TWO_PI * 100.0 * t) * tone(slot_phase, slot_f, sr))
        )
        rolling = 0.25 * shaped_noise(rng, n, sr, unit["rolling_lo"], 6500.0) * (1.0 + 0.2 * np.cos(phi))
        cooling = unit["cooling"] * rng.uniform(0.9, 1.1) * shaped_noise(rng, n, sr, 100.0, 5000.0, -3.0)
        base = shaft + hum + whine + rolling + cooling
        f_rot = float(fr.mean())
        if anomaly in ("bearing_outer", "bearing_inner"):  # impacts at the defect frequency ring the housing
            sign = -1.0 if anomaly == "bearing_outer" else 1.0
            rate = 0.5 * unit["balls"] * f_rot * (1.0 + sign * unit["ratio"])
            onsets = np.cumsum(
                np.full(int(rate * n / sr) + 2, 1.0 / rate) * (1.0 + 0.01 * rng.standard_normal(int(rate * n / sr) + 2))
            )
            onsets = onsets - rng.uniform(0, 1.0 / rate)
            amps = 1.0 + 0.2 * rng.standard_normal(onsets.size)
            if anomaly == "bearing_inner":  # the inner race turns through the load zone once per revolution
                amps = amps * (1.0 + np.cos(TWO_PI * f_rot * onsets))
            modes = [(unit["resonance"], 1.5e-3, 1.0), (unit["resonance"] * 1.7, 8e-4, 0.5)]
            return self.add_fault(base, ringing(rng, n, sr, onsets, amps, modes), sev)
        if anomaly == "imbalance":
            base = base * (1.0 + (0.05 + 0.3 * sev) * np.cos(phi))
            return self.add_fault(base, np.sin(phi + rng.uniform(0, TWO_PI)), sev)
        if anomaly == "looseness":  # half-order harmonics and a rattle knocked once per revolution
            half = harmonics(0.5 * phi, np.array([0.0, 0.0, 0.6, 0.0, 0.4]), rng.uniform(0, TWO_PI, 5))
            onsets = np.arange(0.0, n / sr, 1.0 / f_rot) + rng.uniform(0, 1.0 / f_rot)
            modes = [(rng.uniform(700.0, 2000.0), 4e-3, 1.0)]
            knocks = ringing(rng, n, sr, onsets, rng.uniform(0.0, 1.0, onsets.size), modes)
            return self.add_fault(base, half / rms(half) + knocks / rms(knocks), sev)
        return base


@MACHINES.register("valve")
class Valve(MachineModel):
    """Solenoid valve: an open and a close click per cycle ringing the body's modes, flow hiss while open."""

    name = "valve"
    speed_key = "rate"
    load_key = "pres"
    anomalies = ("missing_click", "bounce", "late_close", "leak", "resonance_shift")

    def unit(self, rng: np.random.Generator, section: int) -> dict:
        base = (2200.0, 2350.0, 2100.0, 2450.0)[section % 4]
        return {
            "speed": (100.0, 120.0, 90.0, 110.0)[section % 4],  # cycles per minute
            "load": float(section % 3 + 1),
            "duty": rng.uniform(0.3, 0.5),
            "open_modes": [(base * r, rng.uniform(2e-3, 6e-3), a) for r, a in ((1.0, 1.0), (2.3, 0.6), (3.6, 0.3))],
            "close_modes": [(base * r, rng.uniform(3e-3, 8e-3), a) for r, a in ((0.8, 1.0), (1.9, 0.7), (3.1, 0.4))],
            "hiss_lo": rng.uniform(1500.0, 3000.0),
        }

    def render(self, rng, unit, cond, n, sr, anomaly, sev):  # noqa: D102 - documented on the base class
        period = 60.0 / (cond.speed * (1.0 + rng.uniform(-0.03, 0.03)))
        duty = unit["duty"]
        cycles = int(n / sr / period) + 2
        opens = (np.arange(cycles) - rng.uniform(0.0, 1.0)) * period + 0.002 * rng.standard_normal(cycles)
        closes = opens + duty * period + 0.002 * rng.standard_normal(cycles)
        pressure = 0.6 + 0.2 * cond.load
        open_amps = pressure * (1.0 + 0.1 * rng.standard_normal(cycles))
        close_amps = pressure * 1.3 * (1.0 + 0.1 * rng.standard_normal(cycles))
        detune = 1.0 + 0.01 * rng.standard_normal()
        if anomaly == "resonance_shift":  # a cracked spring or worn seat moves the modes
            detune *= 1.0 + rng.choice([-1.0, 1.0]) * (0.03 + 0.12 * sev)
        if anomaly == "late_close":  # sticky plunger: the close click comes late
            closes = closes + (0.03 + 0.15 * sev) * period * rng.uniform(0.7, 1.0, cycles)
        if anomaly == "missing_click":  # weak or missing clicks on some cycles
            hit = rng.random(cycles) < 0.3 + 0.5 * sev
            hit[rng.integers(cycles)] = True
            which = close_amps if rng.random() < 0.5 else open_amps
            which[hit] *= 1.0 - (0.4 + 0.6 * sev)
        open_modes = [(f * detune, tau, a) for f, tau, a in unit["open_modes"]]
        close_modes = [(f * detune, tau, a) for f, tau, a in unit["close_modes"]]
        clicks = ringing(rng, n, sr, opens, open_amps, open_modes) + ringing(
            rng, n, sr, closes, close_amps, close_modes
        )
        t = np.arange(n) / sr
        is_open = ((t[:, None] >= opens[None, :]) & (t[:, None] < closes[None, :])).any(axis=1).astype(float)
        gate = np.convolve(is_open, np.hanning(int(0.01 * sr)) / (0.005 * sr), mode="same")
        hiss = shaped_noise(rng, n, sr, unit["hiss_lo"], 7000.0)
        base = clicks / rms(clicks) + 0.15 * pressure * hiss * gate + 0.02 * shaped_noise(rng, n, sr, 50.0, 400.0)
        if anomaly == "bounce":  # the plunger bounces off its seat: a second, weaker close click
            keep = rng.random(cycles) < 0.5 + 0.5 * sev
            echo = ringing(rng, n, sr, closes[keep] + rng.uniform(0.004, 0.012), close_amps[keep], close_modes)
            return self.add_fault(base, echo, sev)
        if anomaly == "leak":  # hiss also while closed, through a worn seat
            return self.add_fault(base, shaped_noise(rng, n, sr, unit["hiss_lo"] * 0.7, 7000.0) * (1.0 - gate), sev)
        return base


@MACHINES.register("slider")
class Slider(MachineModel):
    """Linear slide on a ball screw: strokes with a travel envelope, friction noise, screw tone, end stops."""

    name = "slider"
    speed_key = "vel"
    anomalies = ("rubbing", "rattle", "squeal", "stick_slip")

    def unit(self, rng: np.random.Generator, section: int) -> dict:
        return {
            "speed": (80.0, 95.0, 70.0, 105.0)[section % 4],  # strokes per minute
            "load": float((section + 2) % 3),
            "moving": rng.uniform(0.6, 0.8),  # fraction of a stroke period spent moving
            "fric_lo": rng.uniform(800.0, 1800.0),
            "fric_hi": rng.uniform(4000.0, 6500.0),
            "screw_hz": rng.uniform(250.0, 600.0),  # screw tone at peak velocity
            "stop": [(rng.uniform(600.0, 1500.0), 6e-3, 1.0), (rng.uniform(2000.0, 4000.0), 2e-3, 0.5)],
            "asym": rng.uniform(0.7, 1.0),  # the return stroke is a little quieter
        }

    def render(self, rng, unit, cond, n, sr, anomaly, sev):  # noqa: D102 - documented on the base class
        period = 60.0 / (cond.speed * (1.0 + rng.uniform(-0.03, 0.03)))
        t = np.arange(n) / sr + rng.uniform(0.0, 2.0 * period)
        stroke, frac = np.divmod(t / period, 1.0)
        moving = unit["moving"]
        vel = np.where(frac < moving, np.sin(np.pi * np.minimum(frac / moving, 1.0)) ** 2, 0.0)
        vel = vel * np.where(stroke % 2 == 0, 1.0, unit["asym"])
        if anomaly == "stick_slip":  # the carriage hesitates part-way: velocity dips and surges
            where = rng.uniform(0.2, 0.8) * moving
            vel = vel * (1.0 - (0.3 + 0.6 * sev) * np.exp(-(((frac - where) / 0.04) ** 2)))
        load = 0.6 + 0.2 * cond.load
        fric = shaped_noise(rng, n, sr, unit["fric_lo"], unit["fric_hi"]) * vel**1.3 * load
        screw_phase = TWO_PI * np.cumsum(unit["screw_hz"] * vel) / sr
        screw = 0.5 * harmonics(screw_phase, np.array([1.0, 0.4, 0.2]), rng.uniform(0, TWO_PI, 3)) * vel
        ends = (np.unique(stroke) + moving) * period - t[0]
        stops = ringing(rng, n, sr, ends, rng.uniform(0.7, 1.0, ends.size), unit["stop"])
        base = fric + screw + 0.3 * stops / max(rms(stops), 1e-3) * rms(fric)
        if anomaly == "rubbing":  # a burr scrapes over part of the travel
            start = rng.uniform(0.1, 0.6) * moving
            window = ((frac > start) & (frac < start + 0.25 * moving)).astype(float)
            return self.add_fault(base, shaped_noise(rng, n, sr, 3000.0, 7500.0) * window * vel, sev)
        if anomaly == "rattle":  # a loose cover knocks while the carriage moves
            count = rng.poisson(30.0 * n / sr)
            onsets = np.sort(rng.uniform(0.0, n / sr, count))
            amps = rng.uniform(0.3, 1.0, count) * vel[np.minimum((onsets * sr).astype(int), n - 1)]
            modes = [(rng.uniform(1000.0, 3000.0), 3e-3, 1.0)]
            return self.add_fault(base, ringing(rng, n, sr, onsets, amps, modes), sev)
        if anomaly == "squeal":  # dry guide: a friction-excited tone while moving fast
            f = rng.uniform(1500.0, 4000.0) * (1.0 + 0.01 * smooth_noise(rng, n, sr, 5.0))
            return self.add_fault(base, np.sin(TWO_PI * np.cumsum(f) / sr) * (vel > 0.5), sev)
        return base
