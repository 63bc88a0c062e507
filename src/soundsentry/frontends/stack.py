"""Several front-ends on one time axis: their features stacked along the frequency axis.

``frontend: {name: stack, parts: [{name: logmel, n_fft: 4096, hop_length: 1024, n_mels: 512}, {name: modulation,
frame_hop: 1024}]}`` gives ``(B, 1, 512 + 320, T)``: a window of frames then holds each part's rows of the same
instants, and a patch-bank scorer can score each part's rows on their own (``chunks:...,blocks=...``, see
:mod:`soundsentry.scorers.chunks`). Every part must give one channel and the same number of frames for a clip
(the same hop, centred): a probe of one second and one of 1.5 seconds check it when the stack is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from soundsentry.errors import AudioError, ConfigError
from soundsentry.registry import register_frontend


@register_frontend("stack")
class Stack(nn.Module):
    """``wave: (B, N) -> (B, 1, sum of the parts' bins, T)``: the parts' features, part 0's rows first.

    Args:
        parts: one mapping per front-end, ``{name: ..., <its keyword arguments>}`` (at least two; ``sample_rate``
            is passed to each unless it sets its own, which must then be equal).
        sample_rate: the input rate in Hz.

    Attributes:
        parts_: the built front-ends (an ``nn.ModuleList``).
        part_bins: rows of each part, in order (the block boundaries of a window are their running sums).
    """

    def __init__(self, *, parts: Sequence[Mapping[str, Any]] = (), sample_rate: int = 16000) -> None:
        super().__init__()
        from soundsentry.registry import FRONTENDS

        if not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ConfigError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        if isinstance(parts, (str, Mapping)) or not isinstance(parts, Sequence) or len(parts) < 2:
            raise ConfigError(
                "stack: parts must be a list of at least two front-ends, e.g. [{name: logmel, ...}, {name: modulation}]"
            )
        built = []
        for i, part in enumerate(parts):
            if not isinstance(part, Mapping) or not isinstance(part.get("name"), str):
                raise ConfigError(f"stack: parts[{i}] must be a mapping with a front-end name, got {part!r}")
            kwargs = {k: v for k, v in part.items() if k != "name"}
            if kwargs.setdefault("sample_rate", sample_rate) != sample_rate:
                raise ConfigError(
                    f"stack: parts[{i}] ({part['name']}) has sample_rate {kwargs['sample_rate']} but the stack "
                    f"{sample_rate}; leave it out of the part"
                )
            try:
                frontend = FRONTENDS.create(part["name"], **kwargs)
            except (ConfigError, TypeError) as err:
                raise ConfigError(f"stack: parts[{i}] ({part['name']}): {err}") from None
            if getattr(frontend, "out_channels", 1) != 1:
                raise ConfigError(f"stack: parts[{i}] ({part['name']}) gives {frontend.out_channels} channels; need 1")
            built.append(frontend)
        self.parts_ = nn.ModuleList(built)
        self.sample_rate = sample_rate
        self.out_channels = 1
        self.part_bins = [int(p.n_bins) for p in built]
        self.n_bins = sum(self.part_bins)
        with torch.no_grad():
            for seconds in (1.0, 1.5):
                probe = torch.zeros(1, int(seconds * sample_rate))
                frames = [int(p(probe).shape[-1]) for p in built]
                if len(set(frames)) > 1:
                    names = ", ".join(f"{parts[i]['name']}: {n}" for i, n in enumerate(frames))
                    raise ConfigError(
                        f"stack: the parts give different frame counts for a {seconds:g} s clip ({names}); give them "
                        "the same hop (logmel hop_length = modulation frame_hop) and centring"
                    )

    def forward(self, wave: Tensor) -> Tensor:
        """``wave: (B, N) -> (B, 1, n_bins, T)``."""
        if wave.dim() != 2:
            raise AudioError(f"front-end expects waveforms of shape (B, N), got {tuple(wave.shape)}")
        return torch.cat([part(wave) for part in self.parts_], dim=2)

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, part_bins={self.part_bins}"
