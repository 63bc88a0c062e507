"""S4 pieces: the warm-up schedule in training, pseudo-anomalies, the AUC + pAUC selection value, the transfer
head's initialisation, and own-class indices for the softmax score."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from soundsentry.config import ComponentSpec, SelectionConfig, TrainConfig
from soundsentry.errors import DataError
from soundsentry.heads.margin import ArcFace, SoftmaxHead
from soundsentry.schedules import warm_restart_lr
from soundsentry.scoring import score_clips
from soundsentry.stages import group_class_indices
from soundsentry.training.module import EmbeddingModel, MarginClassifierModule
from soundsentry.training.selection import AucPaucSelection, pseudo_anomalies, selection_callback
from soundsentry.training.trainer import restrict_head
from soundsentry.types import Clip, Domain, Label, Split


class _Flat(nn.Module):
    embed_dim = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :4]


def _clip(machine: str, section: str, split: Split = Split.TRAIN, label: Label = Label.NORMAL, i: int = 0) -> Clip:
    return Clip(
        f"/d/{machine}/{section}_{split.value}_{label.value}_{i}.wav", machine, section, Domain.SOURCE, split, label
    )


def test_warmup_schedule_drives_the_training_lr() -> None:
    train = TrainConfig(
        optimizer=ComponentSpec("adam", {"lr": 5.0, "weight_decay": 0.0}),
        scheduler=ComponentSpec(
            "cosine_warm_restarts_with_warmup", {"max_lr": 2e-4, "t_up": 2, "t_0": 10, "t_mult": 2}
        ),
    )
    module = MarginClassifierModule(EmbeddingModel(_Flat(), None), ArcFace(4, 3), train, batches_per_epoch=5)
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.defaults["weight_decay"] == 0.0
    assert config["lr_scheduler"]["interval"] == "epoch"
    lrs = []
    optimizer.step()  # no gradients: a no-op that keeps torch's order check quiet
    for _ in range(32):
        lrs.append(optimizer.param_groups[0]["lr"])
        scheduler.step()
    assert lrs == pytest.approx([warm_restart_lr(e, 2e-4, 2, 10, 2) for e in range(32)])
    assert lrs[1] == pytest.approx(1e-4) and lrs[2] == pytest.approx(2e-4) and lrs[10] == 0.0  # restart at 10


def test_pseudo_anomalies_are_deterministic_and_of_each_kind() -> None:
    chunks = torch.arange(4 * 1 * 8 * 3, dtype=torch.float32).reshape(4, 1, 8, 3)
    chunk_clip = torch.tensor([0, 0, 1, 2])
    kinds = ["pitch_shift", "mix", "time_reverse"]
    fake, fake_clip = pseudo_anomalies(chunks, chunk_clip, [0, 0, 1], kinds)
    again, _ = pseudo_anomalies(chunks, chunk_clip, [0, 0, 1], kinds)
    assert torch.equal(fake, again) and torch.equal(fake_clip, chunk_clip)
    # clip 0: moved up by 4 bins, the lowest 4 repeated
    assert torch.equal(fake[0, :, 4:], chunks[0, :, :4]) and torch.equal(fake[0, :, :4], chunks[0, :, :4])
    # clip 1 mixes with the next clip of another class (clip 2): the bin-wise maximum
    assert torch.equal(fake[2], torch.maximum(chunks[2], chunks[3]))
    assert torch.equal(fake[3], chunks[3].flip(dims=(2,)))  # clip 2: time-reversed
    # one class only: mix falls back to the pitch shift
    single, _ = pseudo_anomalies(chunks[:1], chunk_clip[:1], [0], ["mix"])
    assert torch.equal(single[0, :, 4:], chunks[0, :, :4])


class _OracleHead(nn.Module):
    """Logits with all mass on class 0 for chunks whose first value is 0, on class 1 otherwise."""

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        on = (x.flatten(1)[:, 0] != 0).float()
        return torch.stack([10 * (1 - on), 10 * on], dim=1)


def test_selection_value_is_the_sum_of_auc_and_pauc_over_machine_types() -> None:
    # 4 clips of type a (2 normal, 2 anomalous) and 2 of type b; a perfect score gives AUC = pAUC = 1 per type.
    chunks = torch.zeros(6, 1, 2, 2)
    chunks[[1, 3, 5], 0, 0, 0] = 1.0  # anomalies look like class 1
    selection = AucPaucSelection(
        chunks, torch.arange(6), [0] * 6, [0, 1, 0, 1, 0, 1], ["a", "a", "a", "a", "b", "b"], every=2
    )
    oracle = nn.Module()
    oracle.model, oracle.head, oracle.device = nn.Identity(), _OracleHead(), torch.device("cpu")
    assert selection.clip_scores(oracle) == pytest.approx([0, 1, 0, 1, 0, 1], abs=1e-4)
    assert selection.value(oracle) == pytest.approx(4.0)
    with pytest.raises(DataError, match="no machine type has both normal and anomalous"):
        AucPaucSelection(chunks, torch.arange(6), [0] * 6, [0] * 6, ["a"] * 6, every=2)


def test_heldout_selection_adds_one_pseudo_anomaly_per_clip_and_skips_unknown_ids() -> None:
    clips = [_clip("fan", "00", i=i) for i in range(3)] + [_clip("fan", "01")]
    chunks = torch.randn(8, 1, 8, 3)
    chunk_clip = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    cb = selection_callback(SelectionConfig(), "fan", chunks, chunk_clip, clips, [0, 0, None, 1], 4, heldout=True)
    assert cb.is_anomaly.tolist() == [0, 0, 0, 1, 1, 1] and cb.own_class.tolist() == [0, 0, 1, 0, 0, 1]
    assert len(cb.chunks) == 12 and int(cb.chunk_clip.max()) == 5


def test_restrict_head_takes_the_integrated_rows_of_the_types_ids() -> None:
    integrated = SoftmaxHead(4, 5)
    head = SoftmaxHead(4, 3)
    fresh = head.weight.detach().clone()
    restrict_head(head, integrated.state_dict(), [3, 1, None])
    assert torch.equal(head.weight[0], integrated.weight[3]) and torch.equal(head.bias[1], integrated.bias[1])
    assert torch.equal(head.weight[2], fresh[2])  # an ID the integrated model never saw keeps its init


def test_group_class_indices_and_softmax_scores_use_the_class_map() -> None:
    clips = [_clip("fan", s, i=i) for s in ("00", "01") for i in range(4)]
    clips += [_clip("fan", "00", Split.TEST, Label.ANOMALY), _clip("fan", "01", Split.TEST, Label.NORMAL)]
    assert group_class_indices(clips, ["fan/00", "fan/01"], "all") == {("fan", "00"): 0, ("fan", "01"): 1}
    assert group_class_indices(clips, ["00", "01"], "transfer") == {("fan", "00"): 0, ("fan", "01"): 1}
    assert group_class_indices(clips, ["00/source", "01/source"], "per_machine_type") == {}
    # Every training clip is classified as class 1: the learned own class of section 00 would be wrong.
    logits = np.tile([0.0, 3.0], (len(clips), 1))
    logits[-2] = [3.0, 0.0]
    given = score_clips(logits, clips, "softmax_id", class_indices={("fan", "00"): 0, ("fan", "01"): 1})
    learned = score_clips(logits, clips, "softmax_id")
    p = np.exp(3) / (1 + np.exp(3))
    assert given[-2] == pytest.approx(1 - p) and learned[-2] == pytest.approx(p)
    assert given[-1] == pytest.approx(1 - p)


def test_bottleneck_resnet50_takes_any_input_size_but_the_ir_variant_checks_it() -> None:
    from soundsentry.config import load_recipe
    from soundsentry.errors import ConfigError
    from soundsentry.training.trainer import build_embedding_model

    softmax = load_recipe("s4_demo_softmax_integrated", ["backbone.width=0.125"])
    assert build_embedding_model(softmax, (1, 128, 63)).embed_dim == 256  # global pooling: 8 * 256 * width
    with pytest.raises(ConfigError, match=r"backbone.input_size=\[128, 40\]"):
        build_embedding_model(load_recipe("s4_demo_base", ["backbone.width=0.125"]), (1, 128, 40))
