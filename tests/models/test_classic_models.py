"""The classic networks (AlexNet, VGG, GoogLeNet, ResNet) and lecture 11's nets: parameter counts at the
paper configuration equal the published ones, 224×224 forwards give 1000 scores, the small-input variants
train (forward, no NaN, backward), auxiliary heads stay out of `forward`."""
import json

import pytest
import torch

import dlpractice.models.alexnet  # noqa: F401  (register the families until models/__init__ imports them)
import dlpractice.models.course  # noqa: F401
import dlpractice.models.googlenet  # noqa: F401
import dlpractice.models.resnet  # noqa: F401
import dlpractice.models.vgg  # noqa: F401
from dlpractice.errors import UserError
from dlpractice.models import MODELS, build_model, count_params
from dlpractice.models._counts import paper_param_count, small_param_count

# torchvision's reference counts (its documentation), equal to the papers' where they report them.
PUBLISHED = {"alexnet": 61_100_840, "vgg11": 132_863_336, "vgg16": 138_357_544, "resnet18": 11_689_512,
             "resnet34": 21_797_672, "resnet50": 25_557_032}
FAMILIES = ["alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
            "googlenet", "resnet18", "resnet34", "resnet50"]
SMALL = FAMILIES + ["course_inception", "course_resnet"]
# The same checkpoint evaluated twice (other batch sizes, so other CPU kernels and summation orders) may
# flip an image whose two best scores nearly tie: allow a few of the 10,000 test images (1 epoch: there is
# only one checkpoint, so this says "the same model", not "a close model").
SAME_MODEL = 2e-3


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_paper_parameter_counts(name):
    assert paper_param_count(name) == PUBLISHED[name]


def test_googlenet_counts():
    """6,624,904 is torchvision's GoogLeNet (3×3 in the "5×5" branch); the paper's 5×5 adds 16 weights
    per (reduce, output) channel pair of that branch: 16 × 23,808 = 380,928."""
    meta = torch.device("meta")
    with meta:
        tv = build_model("googlenet", {"num_classes": 1000, "in_channels": 3, "small_input": False,
                                       "branch3_kernel": 3})
        tv_aux = build_model("googlenet", {"num_classes": 1000, "in_channels": 3, "small_input": False,
                                           "branch3_kernel": 3, "aux": True})
    assert count_params(tv) == 6_624_904
    assert count_params(tv_aux) == 13_004_888       # torchvision with aux_logits=True
    assert paper_param_count("googlenet") == 6_624_904  # what `dlp models` shows
    with meta:
        literal = build_model("googlenet", {"num_classes": 1000, "in_channels": 3, "small_input": False})
    assert count_params(literal) == 6_624_904 + 16 * 23_808 == 7_005_832


def test_lecture11_counts_and_no_paper_config():
    assert small_param_count("course_inception") == 97_298
    assert small_param_count("course_resnet") == 41_514
    assert paper_param_count("course_resnet") is None
    assert small_param_count("resnet18") == count_params(build_model("resnet18", {}))


@pytest.mark.parametrize("name", FAMILIES)
def test_paper_shapes_on_meta(name):
    """Every paper configuration maps a 224×224 RGB batch to 1000 scores (shapes only, no storage)."""
    spec = MODELS.get(name)
    args = {k: v for k, v in spec.paper.items() if k != "input_size"}
    with torch.device("meta"):
        model = build_model(name, args).eval()
        out = model(torch.empty(1, 3, spec.paper["input_size"], spec.paper["input_size"]))
    assert out.shape == (1, 1000)


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "alexnet"])
def test_paper_forward_224(name):
    torch.manual_seed(0)
    spec = MODELS.get(name)
    model = build_model(name, {k: v for k, v in spec.paper.items() if k != "input_size"}).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 1000) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", SMALL)
def test_small_input_forward_backward(name):
    torch.manual_seed(0)
    model = build_model(name, {})
    out = model(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    out.pow(2).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_small_input_takes_rgb_and_other_class_counts():
    out = build_model("resnet18", {"in_channels": 3, "num_classes": 7})(torch.randn(2, 3, 28, 28))
    assert out.shape == (2, 7)


def test_googlenet_forward_returns_logits_and_aux_is_separate():
    torch.manual_seed(0)
    model = build_model("googlenet", {"aux": True})
    x = torch.randn(2, 1, 28, 28)
    model.train()
    assert isinstance(model(x), torch.Tensor)        # never a tuple, in train or eval mode
    logits, aux = model.forward_with_aux(x)
    assert logits.shape == (2, 10) and [a.shape for a in aux] == [(2, 10), (2, 10)]
    with pytest.raises(UserError, match="aux=True"):
        build_model("googlenet", {}).forward_with_aux(x)


def test_course_blocks():
    from dlpractice.models.course import InceptionA, ResidualBlock
    assert InceptionA(10)(torch.randn(1, 10, 12, 12)).shape == (1, 88, 12, 12)
    x = torch.randn(1, 16, 12, 12)
    assert ResidualBlock(16)(x).shape == x.shape


def test_too_small_input_is_a_user_error():
    with pytest.raises(UserError, match="too small"):
        build_model("alexnet", {"small_input": False, "input_size": 28})
    with pytest.raises(UserError, match="accepts"):
        MODELS.get("vgg11").resolve_args({}, {"widht": 0.5})


def test_lecture11_quick(tmp_path):
    """Lesson 11 end to end, shorter than its quick version (1 epoch on 3,000 images): both nets train,
    the report hook draws each variant's mistakes and filters and gives the weaker accuracy."""
    from dlpractice.lessons import run_lesson

    from conftest import require_data
    short = ["train.threads=1", "train.epochs=1", "data.limit_train=3000", "data.val_fraction=0.05"]
    result, folder, ok = require_data(lambda: run_lesson(11, short, tmp_path / "l11", quick=True))
    assert result["inception.accuracy"] >= 0.6 and result["residual.accuracy"] >= 0.6   # chance: 0.1
    assert result["lowest_variant_accuracy"] == min(result["inception.accuracy"], result["residual.accuracy"])
    for v in ("inception", "residual"):
        assert (folder / v / "misclassified.png").stat().st_size > 10_000
        assert (folder / v / "filters.png").stat().st_size > 5_000
        assert (folder / v / "confusion.png").stat().st_size > 10_000
        per_class = json.loads((folder / v / "per_class.json").read_text())
        assert per_class["accuracy"] == pytest.approx(result[f"{v}.accuracy"], abs=SAME_MODEL)
        assert len(per_class["per_class"]) == 10
    assert (folder / "comparison.png").exists()


def test_fashion_best_quick(tmp_path):
    """The lesson's recipe, 1 epoch on 3,000 images: it learns, and the run's model averages each image with
    its mirror — the saved model, the lesson's figure and `dlp evaluate` agree. The lesson also averages over
    crops within a pixel (18 views: 92 s of this test on one thread, the test split predicted three times), so
    here that is checked in the lesson's config and left out of the run; test_ensemble and test_export cover
    the crops."""
    from dlpractice.lessons import run_lesson
    from dlpractice.models.ensemble import ViewAverage
    from dlpractice.runs.predictor import Predictor

    from conftest import require_data
    from dlpractice.config import load_config
    from dlpractice.lessons import lesson_path
    assert load_config(lesson_path("fashion_best")).model.args["shift_average"] == 1
    short = ["train.threads=1", "train.epochs=1", "data.limit_train=3000", "data.val_fraction=0.02",
             "train.eval_test=false", "model.args.shift_average=0"]
    result, folder, ok = require_data(lambda: run_lesson("fashion_best", short, tmp_path / "best", quick=True))
    assert result["test_accuracy"] >= 0.6                                  # chance: 0.1
    pred = Predictor(folder)
    assert isinstance(pred.model, ViewAverage) and pred.model.flip
    summary = json.loads((folder / "summary.json").read_text())   # the validation split: 10× quicker than test
    assert pred.evaluate("val")["accuracy"] == pytest.approx(summary["best_val"]["accuracy"], abs=SAME_MODEL)
    assert (folder / "misclassified.png").is_file() and (folder / "per_class.json").is_file()


def test_time_to_accuracy_lesson_quick(tmp_path):
    """fashion_fast's quick run (fashion_3min's is the same: one epoch on 6,000 images): the mirrored
    16/64-channel lenet_fast learns (0.82 on this machine; chance 0.1) and predicts with mirror averaging."""
    lesson = "fashion_fast"
    from dlpractice.lessons import run_lesson
    from dlpractice.models.ensemble import ViewAverage
    from dlpractice.runs.predictor import Predictor

    from conftest import require_data
    result, folder, ok = require_data(lambda: run_lesson(lesson, ["train.threads=1"], tmp_path / lesson, quick=True))
    assert result["test_accuracy"] >= 0.75
    assert isinstance(Predictor(folder).model, ViewAverage)


@pytest.mark.parametrize("lesson", ["lecture11", "zoo_alexnet", "zoo_vgg", "zoo_googlenet", "zoo_resnet18",
                                    "fashion_best", "fashion_fast", "fashion_3min"])
def test_recipes_are_valid(lesson):
    """Every recipe (and its quick and variant overrides) is a valid config naming a registered model whose
    arguments it accepts; the lesson table has what the runner needs."""
    from dlpractice.config import load_config, load_toml
    from dlpractice.lessons import lesson_path
    path = lesson_path(lesson)
    doc = load_toml(path)
    assert doc["lesson"]["kind"] in ("train", "compare") and doc["lesson"]["expect"]["min"] > 0.88
    for extra in [[]] + [v["set"] for v in doc.get("variants", [])]:
        cfg = load_config(path, list(doc["lesson"]["quick"]) + extra)
        spec = MODELS.get(cfg.model.name)
        spec.resolve_args({"num_classes": 10, "in_channels": 1}, cfg.model.args)
        assert cfg.data.dataset == "fashion-mnist" and cfg.train.epochs <= 2
