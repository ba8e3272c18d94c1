"""Registry-driven model tests: every model builds, has the declared output, no NaN, a backward step;
every image classifier overfits 64 real training images (proves the loop learns)."""
import pytest
import torch

from dlpractice.config import load_config
from dlpractice.inputs import example_batch
from dlpractice.models import MODELS, build_model, count_params
from dlpractice.train.loop import train


@pytest.mark.parametrize("name", MODELS.names())
def test_forward_backward(name):
    spec = MODELS.get(name)
    torch.manual_seed(0)
    model = build_model(name, {})
    x = example_batch(spec.input, {"size": spec.input_size})
    out = model(x)
    assert out.shape[0] == x.shape[0]
    if spec.task in ("classification", "sequence_classification"):
        assert out.shape == (x.shape[0], 10) or out.dim() == 2
    assert torch.isfinite(out).all()
    out.float().pow(2).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_registry_refuses_duplicates():
    from dlpractice.models import register_model
    with pytest.raises(ValueError, match="already registered"):
        register_model("lenet5", "classification", "image", "dup")(lambda: None)


def test_lenet5_parameter_count():
    assert count_params(build_model("lenet5", {})) == 61_706  # Dive into Deep Learning §7.6


IMAGE_CLASSIFIERS = [n for n, s in MODELS.items() if s.task == "classification" and s.input == "image"]


@pytest.mark.parametrize("name", IMAGE_CLASSIFIERS)
def test_overfits_32_samples(name, tmp_path):
    """32 real digits, no validation: the loop must fit them (at most one of 32 wrong: a margin for other
    CPUs' kernels, where exact float results differ)."""
    from dlpractice.runs.predictor import Predictor
    # Adam makes the check quick for all; the sigmoid LeNet's flat activations want a larger step
    # (d2l.ai trains it with SGD at lr 0.9); the deep VGG/AlexNet stacks need a gentler one, and AlexNet
    # and the deepest VGGs more epochs at it. One thread: the result must not depend on what an earlier
    # test set. fp32: under bf16 autocast, which the speed probe picks by timing on a CPU with bf16 (so on some
    # runs and not others), vgg13 fits 30 of 32 in these 40 epochs (fp32: 32, NCHW or NHWC).
    lr = {"lenet5": 0.01}.get(name, 0.001)
    epochs = 60 if name == "alexnet" or name.startswith(("vgg16", "vgg19")) else 40
    cfg = load_config(overrides=["data.dataset=digits", f"model.name={name}", "data.limit_train=32",
                                 "data.val_fraction=0.0", "data.batch_size=16", "optim.name=adam", f"optim.lr={lr}",
                                 "optim.weight_decay=0.0", f"train.epochs={epochs}", "train.eval_test=false",
                                 "train.threads=1", "train.precision=fp32", "log.loggers=['csv']"])
    run = train(cfg, out=tmp_path / name)
    assert Predictor(run.folder).evaluate("train")["accuracy"] >= 31 / 32
