"""Front-ends: batched torch modules turning waveforms ``(B, N)`` into features ``(B, C, F, T)``.

Importing this package registers every front-end in :data:`soundsentry.registry.FRONTENDS`; build one by name::

    frontend = FRONTENDS.create("logmel", sample_rate=16000, n_fft=1024, hop_length=512, n_mels=128)

Each front-end runs on the device of its input once moved there with ``.to(device)``; it exposes
``.sample_rate``, ``.out_channels`` (C) and ``.n_bins`` (F).
"""

from soundsentry.frontends.dft import MagnitudeSpectrum
from soundsentry.frontends.logmel import LogMel
from soundsentry.frontends.modulation import Modulation
from soundsentry.frontends.stack import Stack
from soundsentry.frontends.standardize import Standardizer
from soundsentry.frontends.stft import MagnitudeSTFT, STFTFrontend, apply_log_scale, fold_frequency
from soundsentry.frontends.waveform import WaveformFrontend
from soundsentry.frontends.windows import (
    chunk_frames,
    context_windows,
    num_chunks,
    num_context_windows,
    pad_time,
)

__all__ = [
    "LogMel",
    "MagnitudeSpectrum",
    "MagnitudeSTFT",
    "Modulation",
    "STFTFrontend",
    "Stack",
    "Standardizer",
    "WaveformFrontend",
    "apply_log_scale",
    "chunk_frames",
    "context_windows",
    "fold_frequency",
    "num_chunks",
    "num_context_windows",
    "pad_time",
]
