"""train.channels_last / train.compile change how training runs, not what it computes or what it saves."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest
import torch

from soundsentry.config import load_recipe
from soundsentry.data.manifest import read_manifest
from soundsentry.errors import ConfigError
from soundsentry.training.data import training_units
from soundsentry.training.module import ExecutionOptions, MarginClassifierModule
from soundsentry.training.trainer import build_embedding_model, build_head, fit_unit, load_embedding_model

SHAPE = (1, 64, 32)  # the tiny recipe's chunk


def _module(tiny_recipe) -> MarginClassifierModule:
    recipe = tiny_recipe()
    torch.manual_seed(0)
    model = build_embedding_model(recipe, SHAPE)
    model.standardizer = torch.nn.Identity()
    return MarginClassifierModule(model, build_head(recipe.head, model.embed_dim, 3), recipe.train, 1)


def _loss_and_grads(module: MarginClassifierModule, x: torch.Tensor, y: torch.Tensor):
    module.train()
    loss = module.head(module.model(x), y)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in module.named_parameters()}


@pytest.mark.parametrize(
    "options",
    [
        {"channels_last": True, "compile": False},
        pytest.param({"channels_last": False, "compile": True}, marks=pytest.mark.slow),
    ],
)
def test_one_training_step_computes_the_same_loss_and_gradients(tiny_recipe, options: dict[str, bool]) -> None:
    plain = _module(tiny_recipe)
    fast = copy.deepcopy(plain)
    ExecutionOptions(**options).setup(None, fast, "fit")  # type: ignore[arg-type]
    x, y = torch.randn(8, *SHAPE, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    assert list(fast.state_dict()) == list(plain.state_dict()), "checkpoints must stay interchangeable"
    loss_a, grads_a = _loss_and_grads(plain, x, y)
    loss_b, grads_b = _loss_and_grads(fast, x, y)
    assert torch.allclose(loss_a, loss_b, rtol=1e-4)
    assert grads_a.keys() == grads_b.keys()
    # Float rounding only: within 0.1 % of the tensor's largest gradient, plus 1e-5 of the largest gradient of all
    # (a batch-norm weight's gradient is a sum that nearly cancels, so its rounding follows the upstream scale; the
    # channels-last kernels of some CPUs and oneDNN builds round it to ~1.3e-6 of that scale). A layout bug shows as
    # differences of the gradient's own size.
    scale = max(g.abs().max() for g in grads_a.values())
    for name, grad in grads_a.items():
        assert (grad - grads_b[name]).abs().max() <= 1e-3 * grad.abs().max() + 1e-5 * scale, name
    if options["channels_last"]:
        # Strides, not is_contiguous: a depthwise or 1x1 weight counts as contiguous in both layouts, but the
        # convolution picks its layout from the strides.
        fast_params = dict(fast.named_parameters())
        convs = {n: p for n, p in plain.named_parameters() if p.dim() == 4}
        assert convs and all(fast_params[n].stride() == _channels_last_stride(p) for n, p in convs.items())
        assert all(p.stride() != _channels_last_stride(p) for p in convs.values())


def _channels_last_stride(p: torch.Tensor) -> tuple[int, ...]:
    return torch.empty(p.shape).to(memory_format=torch.channels_last).stride()


def test_a_channels_last_run_saves_a_plain_loadable_model(tiny_manifest: Path, tiny_recipe, tmp_path: Path) -> None:
    clips = training_units(read_manifest(tiny_manifest), "per_machine_type")["fan"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_unit(
            tiny_recipe("train.epochs=1", "train.val_fraction=0", "train.channels_last=true"), "fan", clips, tmp_path
        )
    trained = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    convs = [k for k, v in trained.items() if v.dim() == 4 and k.startswith("model.backbone.")]
    assert convs and all(trained[k].stride() == _channels_last_stride(trained[k]) for k in convs), "option not applied"
    saved = torch.load(tmp_path / "model.pt", map_location="cpu", weights_only=False)["state_dict"]
    model, _ = load_embedding_model(tmp_path / "model.pt")  # a default-layout model takes the weights by value
    model.eval()
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(2, *SHAPE))).all()


@pytest.mark.parametrize("key", ["channels_last", "compile"])
def test_execution_options_must_be_booleans(key: str) -> None:
    with pytest.raises(ConfigError, match=f"train.{key} must be true or false"):
        load_recipe("s1_arcface_mfn_demo", [f"train.{key}=fast"])
