"""S3 training pieces: mixup pairs and their soft labels, AdamP, freezing in step 2, two-step resume."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from soundsentry.config import ComponentSpec, load_recipe
from soundsentry.data.manifest import read_manifest
from soundsentry.errors import ConfigError, DataError
from soundsentry.training.data import MixupDataset, PairSampler, training_units
from soundsentry.training.module import build_optimizer
from soundsentry.training.trainer import MODEL_FILE, fit_unit
from soundsentry.types import Domain

# The demo recipe shrunk for a test: 32 mels x 16 frames (0.5 s clips), 2 sub-clusters, 1 epoch + 2 steps.
S3_TINY = [
    "frontend.n_mels=32",
    "features.clip_seconds=0.5",
    "features.chunk_width=16",
    "backbone.input_size=[32,16]",
    "backbone.embed_dim=16",
    "head.sub_clusters=2",
    "train.epochs=1",
    "train.batch_size=8",
    "train.finetune.steps=2",
    "score.scorers=['domain_aware:source=gmm;init=centres;covariance_type=diag,target=ocsvm', 'ocsvm']",
]


def s3_tiny(*extra: str):
    return load_recipe("s3_scadacos_resnet_demo", [*S3_TINY, *extra])


def test_mixup_dataset_mixes_inputs_and_one_hot_labels() -> None:
    chunks = torch.randn(4, 1, 3, 5)
    labels = torch.tensor([0, 2, 1, 2])
    x, y = MixupDataset(chunks, labels, num_classes=3)[(1, 2, 0.3)]
    assert torch.allclose(x, 0.3 * chunks[1] + 0.7 * chunks[2])
    assert torch.allclose(y, torch.tensor([0.0, 0.7, 0.3]))
    _, same = MixupDataset(chunks, labels, num_classes=3)[(1, 3, 0.25)]  # same class: still one-hot
    assert torch.allclose(same, torch.tensor([0.0, 0.0, 1.0]))


def test_pair_sampler_draws_partners_from_the_second_pool_per_epoch() -> None:
    sampler = PairSampler(first=[0, 1, 2, 3], second=[10, 11], seed=3)
    epoch0 = list(sampler)
    assert sorted(a for a, _, _ in epoch0) == [0, 1, 2, 3] and len(sampler) == 4
    assert all(b in (10, 11) and 0.0 <= lam < 1.0 for _, b, lam in epoch0)
    assert list(sampler) == epoch0  # depends only on (seed, epoch): a resumed run draws the same pairs
    sampler.set_epoch(1)
    assert list(sampler) != epoch0
    with pytest.raises(DataError, match="needs source and target"):
        PairSampler(first=[0, 1], second=[], seed=0)


def test_adamp_comes_from_the_library() -> None:
    from pytorch_optimizer import AdamP

    params = [torch.nn.Parameter(torch.randn(3))]
    opt = build_optimizer(params, ComponentSpec("adamp", {"lr": 1e-3, "weight_decay": 1e-5}))
    assert isinstance(opt, AdamP) and opt.defaults["lr"] == 1e-3 and opt.defaults["weight_decay"] == 1e-5


def test_recipe_validation_of_finetune() -> None:
    with pytest.raises(ConfigError, match=r"train.finetune.steps must be a positive integer"):
        s3_tiny("train.finetune.steps=0")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) train.finetune.epochs"):
        s3_tiny("train.finetune.epochs=3")
    assert s3_tiny("train.finetune=null").train.finetune is None


def _unit_clips(manifest: Path):
    return training_units(read_manifest(manifest), "all")["all"]


def _states(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    payload = torch.load(path, map_location="cpu", weights_only=False)
    return payload["state_dict"], payload["head_state_dict"]


def test_two_step_training_freezes_all_but_the_last_stage_and_head(tiny_manifest: Path, tmp_path: Path) -> None:
    clips = _unit_clips(tiny_manifest)
    assert {c.domain for c in clips} == {Domain.SOURCE, Domain.TARGET}
    out = tmp_path / "all"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit_unit(s3_tiny(), "all", clips, out)
    step1, step1_head = _states(out / "step1" / MODEL_FILE)
    step2, step2_head = _states(result.model_path)
    assert step1.keys() == step2.keys()
    trained = [k for k in step1 if k.startswith("backbone.stages.3.")]
    frozen = [k for k in step1 if not k.startswith("backbone.stages.3.")]
    assert trained and any(k.startswith("backbone.stem.") for k in frozen) and "standardizer.mean" in frozen
    for key in frozen:  # weights and batch-norm statistics alike
        assert torch.equal(step1[key], step2[key]), f"{key} changed in step 2"
    assert any(not torch.equal(step1[k], step2[k]) for k in trained if k.endswith("weight"))
    assert not torch.equal(step1_head["weight"], step2_head["weight"])
    ckpt = torch.load(out / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 2  # finetune.steps iterations


def test_a_run_killed_in_step_2_resumes_in_step_2(tiny_manifest: Path, tmp_path: Path, capsys) -> None:
    clips = _unit_clips(tiny_manifest)
    out = tmp_path / "all"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_unit(s3_tiny("train.finetune.steps=1"), "all", clips, out)
        step1_ckpt = (out / "step1" / "last.ckpt").read_bytes()
        (out / MODEL_FILE).unlink()  # killed after a step-2 checkpoint, before model.pt
        capsys.readouterr()
        fit_unit(s3_tiny("train.finetune.steps=3"), "all", clips, out, resume=True)
    assert "continuing with step 2" in capsys.readouterr().out
    assert (out / "step1" / "last.ckpt").read_bytes() == step1_ckpt  # step 1 was not trained again
    assert torch.load(out / "last.ckpt", map_location="cpu", weights_only=False)["global_step"] == 3
    assert (out / MODEL_FILE).is_file()


def test_trainable_prefix_that_matches_nothing_is_explained(tiny_manifest: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings(), pytest.raises(ConfigError, match="matches no parameter"):
        warnings.simplefilter("ignore")
        fit_unit(
            s3_tiny("train.finetune.trainable=[model.backbone.layer4]"),
            "all",
            _unit_clips(tiny_manifest),
            tmp_path / "all",
        )


@pytest.mark.slow
def test_s3_run_end_to_end(tiny_data: Path, tmp_path: Path) -> None:
    """prepare -> two-step train -> extract -> domain-aware / OC-SVM scoring with the head's centres -> evaluate."""
    from soundsentry import stages

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = stages.run("s3_scadacos_resnet_demo", tiny_data, tmp_path, S3_TINY)
    assert sorted(results) == ["domain_aware_source=gmm_init=centres_covariance_type=diag_target=ocsvm", "ocsvm"]
    for stem in results:
        assert (tmp_path / "results" / stem / "results.csv").is_file()
    assert (tmp_path / "models" / "all" / "step1" / MODEL_FILE).is_file()

    # The detector bundle carries the domains and the learned centres: it refits the same domain-aware scorer and
    # scores new clips (domain unknown) as the scorer does with Domain.UNKNOWN.
    import numpy as np

    from soundsentry.data.manifest import read_manifest
    from soundsentry.deploy import Detector, export_detector
    from soundsentry.scoring import fit_scorer, is_fit_clip, score_rows
    from soundsentry.types import Domain, Split

    detector = Detector(export_detector(tmp_path, tmp_path / "detector"))
    clips = read_manifest(tmp_path / "manifest.jsonl")
    features = stages.load_embeddings(tmp_path, clips).astype(np.float64)
    centres = stages.load_centres(tmp_path, [c for c in clips if is_fit_clip(c)])
    group = next(c.group for c in clips if c.split is Split.TEST)
    fit_rows = np.array([i for i, c in enumerate(clips) if is_fit_clip(c) and c.group == group])
    test_rows = np.array([i for i, c in enumerate(clips) if c.split is Split.TEST and c.group == group])
    scorer = fit_scorer(detector.scorer_spec, features, clips, fit_rows, centres)
    expected = score_rows(scorer, features, clips, test_rows, domain=Domain.UNKNOWN)
    got = [detector.score_file(clips[i].path, *group).score for i in test_rows]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_s3_recipe_has_the_documented_values() -> None:
    r = load_recipe("s3_scadacos_resnet")
    fe = r.frontend.kwargs
    assert (r.frontend.name, fe["n_fft"], fe["hop_length"], fe["n_mels"], fe["window"], fe["scale"]) == (
        "logmel",
        1024,
        512,
        128,
        "hann",
        "db",
    )
    assert r.features.standardize == "global" and r.features.chunk_width == 313
    assert r.backbone.name == "resnet_s3" and r.backbone.kwargs["input_size"] == [128, 313]
    assert r.head == ComponentSpec("subcluster_adacos", {"sub_clusters": 32})
    t = r.train
    assert (t.mode, t.epochs, t.batch_size, t.mixup) == ("all", 150, 256, True)
    assert t.optimizer == ComponentSpec("adamp", {"lr": 1e-3, "weight_decay": 1e-5})
    assert t.finetune is not None and t.finetune.steps == 5000 and t.finetune.optimizer is None
    assert t.finetune.trainable == ["model.backbone.stages.3", "head"]
    # sec. 2.5's "largest negative log-likelihood of all components", read as the best component (docs/s3.md).
    assert r.score.scorers[0] == (
        "domain_aware:source=gmm;init=centres;rule=best_component;covariance_type=full;reg_covar=1.0e-6,target=ocsvm"
    )


# --- issue 16, item 1: C = section x domain, and each domain's model starts from its own centres ----------------
@pytest.mark.parametrize("name", ["s3_scadacos_resnet", "s3_scadacos_resnet_demo"])
def test_s3_classes_are_section_x_domain(name: str) -> None:
    """Sec. 2.3: "C = 84" for DCASE 2021's 7 types x 6 sections = 42 sections: a class is (section, domain)."""
    assert load_recipe(name).train.classes == "section_domain"


def test_group_centres_pick_a_domains_rows() -> None:
    import numpy as np

    from soundsentry.scorers.centres import GroupCentres, tag_rows

    per_class = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)  # 2 classes x S = 3 x D = 4
    tagged = tag_rows(per_class, ["fan/00/source", "fan/00/target"], "fan/00")
    assert tagged.domains == (Domain.SOURCE,) * 3 + (Domain.TARGET,) * 3
    np.testing.assert_array_equal(tagged.of(Domain.SOURCE), per_class[0])
    np.testing.assert_array_equal(tagged.of(Domain.TARGET), per_class[1])
    np.testing.assert_array_equal(np.asarray(tagged), per_class.reshape(6, 4))  # a scorer on every clip: all rows
    # attributes classes keep the domain right after the section.
    attrs = tag_rows(per_class, ["00/source/a=1", "00/source/a=2"], "00")
    np.testing.assert_array_equal(attrs.of(Domain.SOURCE), per_class.reshape(6, 4))
    with pytest.raises(DataError, match="no target class for this section"):
        attrs.of(Domain.TARGET)
    untagged = tag_rows(per_class[:1], ["fan/00"], "fan/00")  # classes: section -> every row for either domain
    np.testing.assert_array_equal(untagged.of(Domain.TARGET), per_class[0])
    assert GroupCentres.untagged(per_class[0]).shape == (3, 4)
    with pytest.raises(DataError, match="one domain per row"):
        GroupCentres(per_class[0], (Domain.SOURCE,))


def _fake_s3_run(run_dir: Path, manifest: Path, classes: str, sub_clusters: int = 2, dim: int = 16):
    """A run folder with config, manifest and a ``model.pt`` whose sub-cluster AdaCos head has known centres."""
    from soundsentry.config.reading import dump_resolved
    from soundsentry.data.manifest import write_manifest
    from soundsentry.runfiles import CONFIG_FILE, MANIFEST_FILE
    from soundsentry.training.data import class_map
    from soundsentry.training.modelfile import build_head

    recipe = s3_tiny(f"train.classes={classes}", f"head.sub_clusters={sub_clusters}", f"backbone.embed_dim={dim}")
    clips = read_manifest(manifest)
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_resolved(recipe, run_dir / CONFIG_FILE)
    write_manifest(clips, run_dir / MANIFEST_FILE)
    keys = class_map(clips, "all", classes)
    head = build_head(recipe.head, dim, len(keys))
    with torch.no_grad():
        head.weight.copy_(torch.randn(head.weight.shape, generator=torch.Generator().manual_seed(0)))
    (run_dir / "models" / "all").mkdir(parents=True)
    torch.save({"classes": keys, "head_state_dict": head.state_dict()}, run_dir / "models" / "all" / MODEL_FILE)
    return clips, keys, head.centres.detach().double().numpy()


def test_load_centres_gives_the_source_gmm_its_sections_source_centres(tiny_manifest: Path, tmp_path: Path) -> None:
    """Before issue 16 the section's source and target centres were concatenated: a 2S-component source GMM."""
    import numpy as np

    from soundsentry import stages
    from soundsentry.scoring import fit_scorer_on, is_fit_clip

    clips, keys, centres = _fake_s3_run(tmp_path, tiny_manifest, "section_domain")
    fit = [c for c in clips if is_fit_clip(c)]
    loaded = stages.load_centres(tmp_path, fit)
    group = fit[0].group
    base = f"{group[0]}/{group[1]}"
    np.testing.assert_allclose(loaded[group].of(Domain.SOURCE), centres[keys.index(f"{base}/source")])
    np.testing.assert_allclose(loaded[group].of(Domain.TARGET), centres[keys.index(f"{base}/target")])
    assert loaded[group].shape == (4, 16)  # both classes for a scorer fitted on every clip of the section

    # The scorer as the score stage fits it (the tiny set has one target clip per section: five of each here).
    spec = "domain_aware:source=gmm;init=centres;covariance_type=diag,target=gmm;init=centres;covariance_type=spherical"
    features = np.random.default_rng(0).normal(size=(10, 16))
    scorer = fit_scorer_on(spec, features, domains=[Domain.SOURCE] * 5 + [Domain.TARGET] * 5, centres=loaded[group])
    for fitted, domain in ((scorer.source_, Domain.SOURCE), (scorer.target_, Domain.TARGET)):
        expected = centres[keys.index(f"{base}/{domain.value}")]
        means_init = fitted.estimator_.means_init
        assert means_init.shape == (2, 16)  # S components, not 2S
        directions = expected / np.linalg.norm(expected, axis=1, keepdims=True)
        np.testing.assert_allclose(means_init / np.linalg.norm(means_init, axis=1, keepdims=True), directions)


def test_load_centres_with_section_classes_is_unchanged(tiny_manifest: Path, tmp_path: Path) -> None:
    import numpy as np

    from soundsentry import stages
    from soundsentry.scoring import is_fit_clip

    clips, keys, centres = _fake_s3_run(tmp_path, tiny_manifest, "section")
    fit = [c for c in clips if is_fit_clip(c)]
    group = fit[0].group
    loaded = stages.load_centres(tmp_path, fit)[group]
    own = centres[keys.index(f"{group[0]}/{group[1]}")]
    for domain in (Domain.SOURCE, Domain.TARGET):
        np.testing.assert_allclose(loaded.of(domain), own)
