"""The dataclasses of a recipe, one per section (``features``, ``train`` and its sub-sections, ``score``), the
:class:`Recipe` that holds them, and the allowed values of the enumerated keys.

Reading (``base:``, ``--set``) is in :mod:`soundsentry.config.reading`, building from plain dicts in
:mod:`soundsentry.config.build`, checks in :mod:`soundsentry.config.validate`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

MODES = ("per_machine_type", "all", "transfer", "per_section")
PHASES = ("auto", "autoencoder")  # train.phase; see soundsentry.training.phases.resolve_phases
CLASS_LABELS = ("section", "section_domain", "attributes")  # see soundsentry.training.data.class_key
PRECISIONS = ("32", "16-mixed", "bf16-mixed", "64")
OPTIMIZERS = ("sgd", "adam", "adamw", "adamp", "lars")
SCHEDULERS = ("cosine_warm_restarts", "cosine_warm_restarts_with_warmup", "none")
SCHEDULER_INTERVALS = ("epoch", "step")
STANDARDIZE = ("per_bin", "global", "none")
LENGTH_POLICIES = ("crop", "pad", "tile", "none")
CHUNK_TAILS = ("drop", "pad", "context")
#: features.channel; DCASE 2026: left = near microphone, right = far microphone (see soundsentry.data.audio).
RECIPE_CHANNELS = ("left", "right", "mean", "both")
#: Audio channels of a clip under features.channel ``both``: the DCASE 2026 pair (near, far microphone).
BOTH_CHANNELS = 2
REDUCTIONS = ("sum", "mean")
PSEUDO_ANOMALIES = ("pitch_shift", "mix", "time_reverse")
NOISE_SOURCES = ("supplemental",)  # train.noise_mix.source; see soundsentry.training.noise_mix

#: The task of a recipe without a ``task:`` key; scene recipes say ``task: scene_classification``.
ANOMALY_TASK = "anomaly_detection"


@dataclass
class ComponentSpec:
    """A registered component: its registry name and the keyword arguments of its factory."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The flat YAML form ``{name: ..., key: value, ...}``."""
        return {"name": self.name, **self.kwargs}


@dataclass
class FeatureConfig:
    """How clips become network inputs: load, front-end, fold, cut into chunks, standardise.

    Attributes:
        sample_rate: rate clips are loaded (and resampled) at, in Hz; must equal the front-end's.
        clip_seconds: fix every clip to this length (``None`` keeps each clip's own length).
        length_policy: how a short clip reaches ``clip_seconds``: ``crop`` (refuse), ``pad``, ``tile``, ``none``.
        channel: which channel(s) of a multi-channel clip to use: ``mean`` (average), ``left`` (channel 0, the
            DCASE 2026 near microphone), ``right`` (channel 1, the far microphone); a mono clip gives its one signal
            under each. ``both`` keeps the two channels of a two-channel clip as input channels: the front-end runs
            on each (before the fold, channel ``c * K + k`` is front-end channel ``k`` of audio channel ``c``), so
            the backbone takes ``in_chans = 2 x front-end channels x fold``; a mono clip is refused under ``both``.
        chunk_width: frames per chunk (the network input's T).
        chunk_hop: frames between chunk starts; ``None`` = ``chunk_width`` (non-overlapping).
        chunk_tail: frames after the last whole chunk: ``drop`` or ``pad`` (one more, padded chunk); ``context``
            cuts S2's context windows instead (``chunk_width`` = P, ``chunk_hop`` = L, ``ceil((T - P) / L)``
            windows per clip, see :func:`~soundsentry.frontends.context_windows`), for training and extraction.
        fold: fold the frequency axis into this many channels (S1 network 2: 4) after the front-end.
        standardize: ``per_bin`` (mean and std per channel and frequency bin), ``global`` or ``none``; fitted on
            the training split only and saved with the model.
        batch_clips: clips per front-end batch when computing features.
    """

    sample_rate: int = 16000
    clip_seconds: float | None = None
    length_policy: str = "pad"
    channel: str = "mean"
    chunk_width: int = 32
    chunk_hop: int | None = None
    chunk_tail: str = "drop"
    fold: int = 1
    standardize: str = "per_bin"
    batch_clips: int = 32


@dataclass
class FinetuneConfig:
    """Step 2 of a two-step (source -> target) training, S3's domain-shift strategy.

    With ``train.finetune`` set, step 1 trains ``train.epochs`` epochs on source-domain clips only; step 2 then
    fine-tunes the step-1 network for ``steps`` optimiser steps on source and target clips (with ``train.mixup``,
    each batch element mixes one source and one target chunk), updating only the parameters under ``trainable``.

    Attributes:
        steps: optimiser steps (iterations) of step 2.
        trainable: name prefixes of the parameters step 2 updates, as in ``MarginClassifierModule.named_parameters``
            (``model.backbone.stages.3`` = the last residual stage of ``resnet_s3``, ``head`` = the classifier);
            every other parameter is frozen and its batch norms keep their step-1 statistics.
        optimizer: step 2's optimiser; ``None`` uses ``train.optimizer``.
    """

    steps: int = 5000
    trainable: list[str] = field(default_factory=lambda: ["model.backbone.stages.3", "head"])
    optimizer: ComponentSpec | None = None


@dataclass
class PretrainConfig:
    """S2's self-supervised pre-training of the encoder (VICReg with mixup), run before the supervised training.

    Every training chunk of the unit (source and target, all sections) is ``X`` once per epoch, paired with a
    random other chunk ``X'`` of the unit and a ratio ``lambda ~ Beta(mixup_alpha, mixup_alpha)`` per pair; the loss
    is eq. 5 of :mod:`soundsentry.ssl.vicreg` on the expander outputs. The schedule is a linear warm-up over
    ``warmup_epochs`` then a cosine decay to ``end_lr``, stepped per batch.

    Attributes:
        epochs: pre-training epochs.
        warmup_epochs: epochs of linear warm-up from 0 to the optimiser's ``lr``.
        end_lr: learning rate at the end of the cosine decay.
        batch_size: pairs per batch.
        optimizer: ``{name: lars, lr, weight_decay, momentum, trust_coefficient}`` (or any ``train.optimizer`` name).
        expander_dim, expander_layers: width and depth of the FC + BN + ReLU expander.
        gamma, mu, nu: weights of the mixup invariance, variance and covariance terms.
        reduction: eq. 1 over the features: ``sum`` (as written) or ``mean`` (VICReg's code).
        mixup_alpha: the Beta parameter of the mixup ratio.
    """

    epochs: int = 100
    warmup_epochs: int = 10
    end_lr: float = 0.002
    batch_size: int = 1024
    optimizer: ComponentSpec = field(default_factory=lambda: ComponentSpec("lars", {"lr": 0.8, "weight_decay": 1.0e-4}))
    expander_dim: int = 1280
    expander_layers: int = 3
    gamma: float = 25.0
    mu: float = 25.0
    nu: float = 1.0
    reduction: str = "mean"
    mixup_alpha: float = 0.5


@dataclass
class SelectionConfig:
    """S4's checkpoint selection: every ``every`` epochs, AUC + pAUC of the ``softmax_id`` score on a labelled
    validation set; the checkpoint with the largest sum (over the unit's machine types) is kept as ``best.ckpt``.

    The validation set is, by default, the held-out training normals (``train.val_fraction``) plus pseudo-anomalies
    made from them (:mod:`soundsentry.training.selection`); ``data: PATH`` reads a labelled manifest instead, and
    ``on_test: true`` selects on the run's own labelled test clips (optimistic: the run's config, log and
    ``train_summary.json`` say so).

    Attributes:
        every: epochs between evaluations (S4: 2).
        data: ``heldout`` or the path of a labelled validation manifest (``soundsentry prepare`` output).
        on_test: select on the test clips of the run's manifest; needs ``data: heldout``.
        max_fpr: the pAUC's false-positive range (DCASE: 0.1).
        pseudo_anomalies: what is made from each held-out normal clip, in turn: ``pitch_shift`` (log-mel bins
            rolled up by 4), ``mix`` (the bin-wise maximum with a clip of another class: a mixed-ID/type sound),
            ``time_reverse`` (frames reversed).
    """

    every: int = 2
    data: str = "heldout"
    on_test: bool = False
    max_fpr: float = 0.1
    pseudo_anomalies: list[str] = field(default_factory=lambda: ["pitch_shift", "mix"])


@dataclass
class NoiseMixConfig:
    """Noise mixing as training augmentation: noise-only recordings of the clip's machine type added to normal
    training clips at a random signal-to-noise ratio, before the front-end (:mod:`soundsentry.training.noise_mix`).

    Each training clip gets ``copies`` noisy versions when the unit's features are cached: for each, a noise clip
    drawn uniformly from its machine type's noise clips (a random excerpt, tiled when shorter) and an SNR drawn
    uniformly from ``snr_db``. Every epoch, each training chunk is replaced with probability ``prob`` by the same
    chunk of one of its clip's noisy versions (drawn uniformly). Draws depend only on ``train.seed`` (and the epoch),
    so a run repeats and resumes exactly. Held-out, validation and scored clips are never mixed.

    Attributes:
        prob: probability that a training chunk is drawn from a noisy version in an epoch; 0 turns mixing off.
        snr_db: ``[low, high]``: the SNR (dB, clip power over scaled noise power) is drawn from ``U(low, high)``.
        copies: noisy versions computed per training clip (each costs one more set of cached chunks).
        source: where the noise comes from: ``supplemental``, the noise-only clips of DCASE 2025's
            ``<type>/supplemental/`` folder (manifest split ``supplemental``, attribute ``kind: noise``). The clean
            machine clips of that folder are not used (their domain is often unknown, so they have no class).
    """

    prob: float = 0.5
    snr_db: list[float] = field(default_factory=lambda: [0.0, 10.0])
    copies: int = 2
    source: str = "supplemental"


#: A field left out of :meth:`Recipe.to_dict` while it is ``None`` (a key added after runs were written: a recipe
#: without it resolves to the same ``config.yaml`` as before the key existed).
OMIT_IF_NONE = {"omit_if_none": True}


@dataclass
class TrainConfig:
    """How the embedding network is trained; ``precision`` / ``accelerator`` / ``devices`` / ``strategy`` /
    ``deterministic`` go to the Lightning ``Trainer`` unchanged (so AMP and DDP need no code change).

    Attributes:
        mode: ``per_machine_type`` (one model per machine type, classes = its sections / machine IDs), ``all``
            (one model, classes = every (machine type, section)) or ``transfer`` (S4: the ``all`` model is trained
            first, in ``models/all/``; then per machine type a new classifier over that type's IDs, initialised
            from the integrated head's rows of those IDs, is fine-tuned with everything else frozen), or
            ``per_section`` (one model per machine type and section, ``<type>_section_<XX>``: the AE baseline's unit;
            ``train.phase: autoencoder`` only).
        phase: ``auto`` (the phases the other keys select: classifier, pre-training, two-step, transfer, frozen) or
            ``autoencoder`` (the DCASE 2023-2025 AE baseline: ``backbone`` names an autoencoder of
            ``soundsentry list``'s autoencoders, ``head: none``, ``val_fraction`` holds out frame vectors, the last
            epoch is kept; see ``docs/ae_baseline.md``).
        classes: what the classifier tells apart within a unit: ``section`` (S1's machine-ID classifier),
            ``section_domain`` or ``attributes`` (section, domain and attribute values, as the auxiliary attribute
            classification of DCASE 2022-2024 systems).
        epochs: training epochs.
        batch_size: chunks per batch (per device).
        optimizer: ``{name: sgd | adam | adamw | adamp, <keyword arguments>}`` (``torch.optim``; AdamP from
            ``pytorch_optimizer``).
        scheduler: ``{name: cosine_warm_restarts, T_0: epochs per cycle, T_mult, eta_min, interval}``,
            ``{name: cosine_warm_restarts_with_warmup, max_lr, t_up, t_0, t_mult, min_lr, interval}`` (S4; the
            optimiser's ``lr`` is replaced by ``max_lr``; :mod:`soundsentry.schedules`) or ``{name: none}``.
            ``interval: epoch`` steps once per epoch (the learning rate is constant within an epoch);
            ``interval: step`` steps after every batch with the cycle measured in batches
            (``T_0 * batches_per_epoch``), i.e. SGDR's fractional-epoch schedule.
        val_fraction: share of each class's training clips held out (by clip, never by chunk) for model
            selection on the ID classifier's validation loss; 0 disables validation (the last epoch is kept).
        seed: seeds model initialisation, the held-out split and the per-epoch shuffling.
        num_workers: DataLoader workers (features are cached in memory, so 0 is usually fastest).
        checkpoint_every: save ``last.ckpt`` / ``best.ckpt`` every this many epochs.
        progress_bar: show Lightning's progress bar.
        mixup: train on mixed pairs: each batch element is ``lam * a + (1 - lam) * b`` of two training chunks
            with ``lam ~ U(0, 1)``, its target the same mix of their one-hot labels (the head's soft-target loss:
            KL divergence for the AdaCos heads). Validation chunks are never mixed.
        mixup_alpha: draw the mixup ratio from ``Beta(mixup_alpha, mixup_alpha)`` instead of ``U(0, 1)`` (S2: 0.5).
        geometric_weight: S2's fine-tuning: with ``mixup``, add this weight times eq. 1 of
            :mod:`soundsentry.ssl.vicreg` on the encoder outputs of ``X``, ``X'`` and their mix to the KL loss (three
            forward passes per batch); needs the ``section_classifier`` head. 0 (default) is the plain mixup.
        geometric_reduction: eq. 1 over the features: ``sum`` (as written) or ``mean`` (VICReg's code).
        finetune: two-step source -> target training (:class:`FinetuneConfig`); ``None`` trains once on all clips.
        pretrain: self-supervised pre-training of the encoder before this training (:class:`PretrainConfig`, S2);
            ``None`` starts from random weights (or from ``init_from``).
        init_from: a run folder whose encoder (standardiser + backbone) of the same unit starts this training:
            its ``models/<unit>/pretrain/model.pt`` if there is one, else its ``models/<unit>/model.pt``.
            Replaces ``pretrain`` when both are set.
        transfer_epochs: epochs of the per-type classifier fine-tuning of ``mode: transfer`` (``None``: ``epochs``).
        selection: checkpoint selection on AUC + pAUC (:class:`SelectionConfig`, S4); ``None`` selects on the
            validation loss (``val_fraction``).
        channels_last: keep 4-D weights (and so the convolutions) in channels-last memory layout while training:
            the same results up to float rounding, faster on CPU (oneDNN) and with mixed precision on GPU
            (BENCHMARKS.md). An execution option, not a hyper-parameter.
        compile: ``torch.compile`` the backbone in place before training (state-dict keys unchanged, so
            checkpoints and ``model.pt`` are the same as without it). Costs a compilation of tens of seconds per
            training phase and, on CPU, a C++ compiler; pays off on long runs.
        noise_mix: mix noise-only supplemental clips into the training clips (:class:`NoiseMixConfig`); ``None``
            (default) trains on the clips as recorded, and is left out of the written ``config.yaml``.
    """

    mode: str = "per_machine_type"
    classes: str = "section"
    epochs: int = 30
    batch_size: int = 48
    optimizer: ComponentSpec = field(default_factory=lambda: ComponentSpec("sgd", {"lr": 0.05}))
    scheduler: ComponentSpec = field(
        default_factory=lambda: ComponentSpec("cosine_warm_restarts", {"T_0": 10, "interval": "epoch"})
    )
    val_fraction: float = 0.1
    seed: int = 0
    precision: str = "32"
    accelerator: str = "auto"
    devices: Any = "auto"
    strategy: str = "auto"
    deterministic: Any = False
    num_workers: int = 0
    checkpoint_every: int = 1
    progress_bar: bool = True
    mixup: bool = False
    mixup_alpha: float | None = None
    geometric_weight: float = 0.0
    geometric_reduction: str = "mean"
    finetune: FinetuneConfig | None = None
    pretrain: PretrainConfig | None = None
    init_from: str | None = None
    transfer_epochs: int | None = None
    selection: SelectionConfig | None = None
    channels_last: bool = False
    compile: bool = False
    phase: str = "auto"
    noise_mix: NoiseMixConfig | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass
class ScoreConfig:
    """Which scorers turn clip embeddings into anomaly scores (one scores file per spec).

    Attributes:
        scorers: scorer specs ``name:key=value,...``, fitted per (machine type, section) on training clips.
        embedding_map: ``soundsentry run`` also writes a t-SNE map of the train and test clip embeddings per
            model unit, ``results/embedding_map_<unit>.png`` (S4's figure; the slowest part of the report).
    """

    scorers: list[str] = field(default_factory=lambda: ["knn_cosine:k=10"])
    embedding_map: bool = False


@dataclass
class Recipe:
    """A complete system: front-end, backbone, head, features, training and scoring."""

    name: str
    frontend: ComponentSpec
    backbone: ComponentSpec
    head: ComponentSpec
    features: FeatureConfig = field(default_factory=FeatureConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts (components flat), as written by :func:`dump_resolved`."""
        return _to_plain(self)


def _to_plain(obj: Any) -> Any:
    if isinstance(obj, ComponentSpec):
        return {"name": obj.name, **{k: _to_plain(v) for k, v in obj.kwargs.items()}}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: _to_plain(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not (f.metadata.get("omit_if_none") and getattr(obj, f.name) is None)
        }
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    return obj
