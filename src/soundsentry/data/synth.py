"""The generated benchmark: a DCASE 2022-2024 style data set synthesised from physical sound models, no download.

::

    summary = generate("demo/data")  # 4 types x 2 sections, 672 two-second clips, 43 MB

writes ``<out>/<type>/train/section_00_source_train_normal_0000_spd_1200_load_1_noise_A_snr_9.wav``,
``<out>/<type>/test/section_00_target_test_anomaly_0003_....wav`` ... and ``<out>/synth.json`` (the parameters,
the counts and the fault kind and severity of every anomalous clip). The sound models live in
:mod:`soundsentry.data.synth_sources`.

Each section is one unit (its own nominal speed, resonances, blade count ...); the target domain is an operating
condition shift (speed, load, background noise kind and level) with 10x fewer training clips. Every clip has its
own random generator seeded from (seed, type, section, domain, split, label, index), so a clip does not change when
the counts do. The mixture is normalised to a random level, so loudness says nothing about the label.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soundsentry.data.audio import write_audio
from soundsentry.data.synth_sources import MACHINES, MachineModel, factory_noise, noise_environment, rms
from soundsentry.errors import ConfigError, DataError
from soundsentry.io import atomic_write_text
from soundsentry.types import Domain, Label, Split

SYNTH_VERSION = 2  # 2: sections share the source hall and differ subtly (same product, different units)
DEFAULT_SECONDS = 2.0
DEFAULT_SECTIONS = 2
BASE_COUNTS = {"train_source": 40, "train_target": 4, "test_normal": 10, "test_anomaly": 10}  # per section (domain)
LEVEL_DBFS = (-31.5, -30.5)  # clip RMS level range
SNR_JITTER_DB = 1.0  # within an SNR attribute bucket
META_FILE = "synth.json"
_TAG_UNIT, _TAG_CLIP, _TAG_ENV = 1, 2, 3


@dataclass(frozen=True)
class ClipSpec:
    """Where one generated clip sits in the set; its random generator is derived from these fields."""

    machine_type: str
    section: int
    domain: Domain
    split: Split
    label: Label
    index: int


@dataclass
class SynthClip:
    """One rendered clip: samples (n,) float32 in [-1, 1], its file-name attributes, its fault (if any)."""

    samples: np.ndarray
    attributes: dict[str, str]
    anomaly: str | None = None
    severity: float = 0.0


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`generate` wrote (or found already written: ``generated`` is False then)."""

    out_dir: Path
    seed: int
    scale: float
    seconds: float
    sample_rate: int
    machine_types: tuple[str, ...]
    sections: int
    counts: dict[str, int]  # clips per section, keys of BASE_COUNTS (test counts are per domain)
    n_files: int
    generated: bool
    elapsed_s: float
    params: dict[str, Any] = field(default_factory=dict, repr=False)


def available_machine_types() -> list[str]:
    """Names of the synthetic machine types."""
    return MACHINES.available()


def clip_counts(scale: float = 1.0) -> dict[str, int]:
    """Clips per section for ``scale`` (each at least 1): train source/target, test normal/anomaly per domain."""
    return {key: max(1, int(round(base * scale))) for key, base in BASE_COUNTS.items()}


def plan(machine_types: Sequence[str], sections: int, counts: dict[str, int]) -> list[ClipSpec]:
    """Every clip of the set, in writing order."""
    specs = []
    for mtype in machine_types:
        for section in range(sections):
            for domain in (Domain.SOURCE, Domain.TARGET):
                for i in range(counts[f"train_{domain.value}"]):
                    specs.append(ClipSpec(mtype, section, domain, Split.TRAIN, Label.NORMAL, i))
                for label in (Label.NORMAL, Label.ANOMALY):
                    for i in range(counts[f"test_{label.value}"]):
                        specs.append(ClipSpec(mtype, section, domain, Split.TEST, label, i))
    return specs


def _key(seed: int, tag: int, machine_type: str, section: int) -> list[int]:
    return [seed, tag, zlib.crc32(machine_type.encode()), section]


def clip_rng(seed: int, spec: ClipSpec) -> np.random.Generator:
    """The clip's own generator: depends only on the seed and the clip's place, never on the counts."""
    rest = [list(Domain).index(spec.domain), list(Split).index(spec.split), list(Label).index(spec.label), spec.index]
    return np.random.default_rng(_key(seed, _TAG_CLIP, spec.machine_type, spec.section) + rest)


def unit_parameters(model: MachineModel, seed: int, section: int) -> dict:
    """Nominal parameters of the unit of ``section`` (shared by all its clips)."""
    return model.unit(np.random.default_rng(_key(seed, _TAG_UNIT, model.name, section)), section)


def render_clip(
    spec: ClipSpec, *, seed: int = 0, seconds: float = DEFAULT_SECONDS, sample_rate: int = 16000
) -> SynthClip:
    """Synthesise one clip: the machine, factory background at a random SNR, normalised to a random level."""
    model = MACHINES.create(spec.machine_type)
    unit = unit_parameters(model, seed, spec.section)
    cond = model.condition(unit, spec.section, spec.domain.value)
    # one hall per type and domain: its background does not depend on the section
    env_key = _key(seed, _TAG_ENV, spec.machine_type, 0) + [list(Domain).index(spec.domain), ord(cond.noise)]
    env = noise_environment(np.random.default_rng(env_key), cond.noise)
    rng = clip_rng(seed, spec)
    n = int(round(seconds * sample_rate))
    snr = int(rng.choice(cond.snrs))
    anomaly = str(rng.choice(model.anomalies)) if spec.label is Label.ANOMALY else None
    severity = float(rng.uniform()) if anomaly else 0.0
    machine = model.render(rng, unit, cond, n, sample_rate, anomaly, severity)
    noise = factory_noise(rng, env, n, sample_rate)
    mix = machine / rms(machine) + noise * 10.0 ** (-(snr + rng.uniform(-SNR_JITTER_DB, SNR_JITTER_DB)) / 20.0)
    mix = mix * (10.0 ** (rng.uniform(*LEVEL_DBFS) / 20.0) / rms(mix))
    peak = float(np.max(np.abs(mix)))
    if peak > 0.99:  # rare: a very impulsive clip at the top of the level range
        mix = mix * (0.99 / peak)
    attributes = {**model.attributes(cond), "noise": cond.noise, "snr": str(snr)}
    return SynthClip(mix.astype(np.float32), attributes, anomaly, severity)


def clip_path(spec: ClipSpec, attributes: dict[str, str]) -> str:
    """Path relative to the set root, e.g. ``fan/train/section_00_source_train_normal_0000_spd_1200_....wav``."""
    attrs = "_".join(f"{k}_{v}" for k, v in attributes.items())
    name = f"section_{spec.section:02d}_{spec.domain.value}_{spec.split.value}_{spec.label.value}_{spec.index:04d}"
    return f"{spec.machine_type}/{spec.split.value}/{name}_{attrs}.wav"


def _validate(seed: int, scale: float, seconds: float, sample_rate: int, sections: int) -> None:
    problems = []
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        problems.append(f"seed must be a non-negative integer, got {seed!r}")
    if not scale > 0:
        problems.append(f"scale must be > 0, got {scale!r}")
    if not seconds >= 0.1:
        problems.append(f"seconds must be >= 0.1, got {seconds!r}")
    if sample_rate < 16000:
        problems.append(f"sample_rate must be >= 16000 Hz (the models reach 7.5 kHz), got {sample_rate!r}")
    if not 1 <= sections <= 99:
        problems.append(f"sections must be 1-99, got {sections!r}")
    if problems:
        raise ConfigError("synthetic data set: " + "; ".join(problems))


def _read_meta(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_meta(path: Path, meta: dict) -> None:
    atomic_write_text(path, json.dumps(meta, indent=1, sort_keys=True) + "\n")


def _describe(params: dict) -> str:
    return ", ".join(
        f"{k}={params[k]}" for k in ("seed", "scale", "seconds", "sample_rate", "sections", "machine_types")
    )


def generate(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    scale: float = 1.0,
    seconds: float = DEFAULT_SECONDS,
    sample_rate: int = 16000,
    machine_types: Sequence[str] | None = None,
    sections: int = DEFAULT_SECTIONS,
    force: bool = False,
) -> SynthSummary:
    """Write the generated benchmark to ``out_dir`` in the DCASE 2022-2024 layout.

    Args:
        out_dir: destination folder; created if missing.
        seed: changes every unit and every clip.
        scale: multiplies the clip counts of :data:`BASE_COUNTS` (each count at least 1).
        seconds: clip length.
        sample_rate: in Hz.
        machine_types: a subset of :func:`available_machine_types`; all by default.
        sections: units per machine type.
        force: overwrite a folder that holds something else (clips of an earlier generated set are removed).

    Returns:
        What was written; ``generated`` is False when the folder already held this exact set (nothing is redone).

    Raises:
        ConfigError: a parameter is out of range or a machine type is unknown.
        DataError: ``out_dir`` is not empty and holds a different set, and ``force`` is False.
    """
    start = time.perf_counter()
    _validate(seed, scale, seconds, sample_rate, sections)
    types = tuple(machine_types) if machine_types is not None else tuple(available_machine_types())
    for mtype in types:
        MACHINES.get(mtype)  # unknown names: ConfigError listing the known ones
    if not types:
        raise ConfigError(
            f"synthetic data set: machine_types is empty; choose from {', '.join(available_machine_types())}"
        )
    counts = clip_counts(scale)
    params = {
        "version": SYNTH_VERSION,
        "seed": int(seed),
        "scale": float(scale),
        "seconds": float(seconds),
        "sample_rate": int(sample_rate),
        "sections": int(sections),
        "machine_types": list(types),
    }
    out = Path(out_dir)
    specs = plan(types, sections, counts)

    def summary(generated: bool) -> SynthSummary:
        return SynthSummary(
            out, int(seed), float(scale), float(seconds), int(sample_rate), types, int(sections), counts, len(specs),
            generated, time.perf_counter() - start, params,
        )  # fmt: skip

    meta_path = out / META_FILE
    old = _read_meta(meta_path) if out.is_dir() else None
    if out.is_dir() and any(out.iterdir()):
        same = old is not None and old.get("params") == params
        if same and old.get("complete") and not force:
            return summary(generated=False)
        if not same and not force:
            found = f"a generated set with {_describe(old['params'])}" if old and "params" in old else f"no {META_FILE}"
            raise DataError(
                f"{out}: folder is not empty and holds {found}, not {_describe(params)}; "
                "pass --force (force=True) to overwrite it or choose another folder"
            )
        if old and "params" in old and force:
            for mtype in old["params"].get("machine_types", []):
                for stale in (out / mtype).glob("*/section_*.wav"):
                    stale.unlink()
    out.mkdir(parents=True, exist_ok=True)
    meta = {"generator": "soundsentry.data.synth", "layout": "dcase2022", "params": params, "complete": False}
    meta["counts_per_section"] = counts
    _write_meta(meta_path, meta)
    anomalies = {}
    for spec in specs:
        clip = render_clip(spec, seed=seed, seconds=seconds, sample_rate=sample_rate)
        rel = clip_path(spec, clip.attributes)
        write_audio(out / rel, clip.samples, sample_rate)
        if clip.anomaly:
            anomalies[rel] = {"fault": clip.anomaly, "severity": round(clip.severity, 4)}
    meta.update(complete=True, n_files=len(specs), anomalies=anomalies)
    _write_meta(meta_path, meta)
    return summary(generated=True)
