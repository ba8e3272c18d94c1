"""Ensembles (`model.args.members = N`): N independently initialised copies, each trained on its own loss,
evaluated on their mean probability; refused for models whose outputs are not class logits."""
import pytest
import torch
import torch.nn.functional as F

from dlpractice.errors import UserError
from dlpractice.models import MODELS, build_model
from dlpractice.models.ensemble import Ensemble, ViewAverage
from dlpractice.runs.tasks import TASKS


def _ensemble():
    torch.manual_seed(0)
    return build_model("lenet_bn", {"num_classes": 10, "members": 3})


def test_members_start_apart_and_eval_averages_probabilities():
    m = _ensemble()
    assert isinstance(m, Ensemble) and len(m.members) == 3
    w = [list(x.parameters())[0] for x in m.members]
    assert not torch.equal(w[0], w[1]) and not torch.equal(w[1], w[2])
    x = torch.randn(4, 1, 28, 28)
    m.eval()
    with torch.no_grad():
        probs = torch.stack([x_m(x).softmax(-1) for x_m in m.members]).mean(0)
        out = m(x)
    assert out.shape == (4, 10)
    assert torch.allclose(out.softmax(-1), probs, atol=1e-6)
    assert torch.allclose(TASKS.get("classification").probabilities(out), probs, atol=1e-6)


def test_training_loss_is_each_members_own_loss():
    """The loss of a training batch is the mean of the members' losses, so each member's gradient is
    that of its own loss (scaled by 1/N) and nothing flows between members."""
    m = _ensemble().train()
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    out = m(x)
    assert out.shape == (3, 8, 10)
    task = TASKS.get("classification")
    loss = task.loss(out, y, 0.1)
    own = [F.cross_entropy(o, y, label_smoothing=0.1) for o in out]
    assert torch.allclose(loss, torch.stack(own).mean())
    loss.backward(retain_graph=True)
    g_joint = list(m.members[1].parameters())[0].grad.clone()
    m.zero_grad()
    (own[1] / 3).backward()   # the same graph: member 1's own loss alone
    assert torch.allclose(list(m.members[1].parameters())[0].grad, g_joint, atol=1e-7)
    # a training batch counts as right where the members' mean probability is
    pred = out.softmax(-1).mean(0).argmax(1)
    assert task.stats(out.detach(), y)["correct"] == float((pred == y).sum())


@pytest.mark.parametrize("bad", [0, -2, 1.5, "two", True])
def test_bad_member_counts_are_refused(bad):
    with pytest.raises(UserError, match="members must be a whole number"):
        build_model("lenet_bn", {"num_classes": 10, "members": bad})


def test_members_of_different_shapes():
    """`members` as a list of tables: one member per table, each the model's arguments updated by it."""
    m = build_model("tabular_classifier", {"in_features": 93, "num_classes": 9, "hidden": [64], "dropout": 0.2,
                                           "members": [{}, {"hidden": [32, 16]}, {"dropout": 0.0}]})
    assert isinstance(m, Ensemble) and len(m.members) == 3
    widths = [[x.out_features for x in member if isinstance(x, torch.nn.Linear)] for member in m.members]
    assert widths == [[64, 9], [32, 16, 9], [64, 9]]
    drops = [[x.p for x in member if isinstance(x, torch.nn.Dropout)] for member in m.members]
    assert drops == [[0.2], [0.2, 0.2], []]
    m.eval()
    assert m(torch.randn(5, 93)).shape == (5, 9)


@pytest.mark.parametrize("bad, message", [
    ([{"hidden": [8]}], "needs 2 to 64 tables"),
    ([{"hidden": [8]}, 3], r"members\[1\] must be a table of tabular_classifier's arguments"),
    ([{}, {"width": 2}], r"members\[1\] names width, not an argument of tabular_classifier"),
    ([{}, {"hidden": [-1]}], r"hidden\[0\] must be a whole number ≥ 1"),
])
def test_bad_member_tables_are_refused(bad, message):
    with pytest.raises(UserError, match=message):
        build_model("tabular_classifier", {"in_features": 4, "num_classes": 3, "members": bad})


def test_members_is_only_for_classifiers():
    spec = MODELS.get("linear")
    with pytest.raises(UserError, match="no argument.*members"):
        spec.resolve_args({"in_features": 3, "out_features": 1}, {"members": 2})
    assert "members" in MODELS.get("rnn_classifier").accepts()


def test_flip_average_predicts_the_mean_of_image_and_mirror():
    torch.manual_seed(0)
    m = build_model("lenet_bn", {"num_classes": 10, "flip_average": True})
    assert isinstance(m, ViewAverage)
    x = torch.randn(4, 1, 28, 28)
    m.train()
    assert torch.equal(m(x), m.model(x))                  # training: the plain network
    m.eval()
    with torch.no_grad():
        want = (m.model(x).softmax(-1) + m.model(x.flip(-1)).softmax(-1)) / 2
        assert torch.allclose(m(x).softmax(-1), want, atol=1e-6)
        assert torch.allclose(m(x), m(x.flip(-1)), atol=1e-5)   # a mirror gets the same answer
    both = build_model("lenet_bn", {"num_classes": 10, "flip_average": True, "members": 2})
    assert isinstance(both, Ensemble) and all(isinstance(x, ViewAverage) for x in both.members)


def test_shift_average_predicts_the_mean_over_moved_views():
    torch.manual_seed(0)
    m = build_model("lenet_bn", {"num_classes": 10, "flip_average": True, "shift_average": 1}).eval()
    x = torch.randn(3, 1, 28, 28)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    moved = [padded[..., 1 + dy:29 + dy, 1 + dx:29 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    assert torch.equal(moved[5][..., :, :27], x[..., :, 1:]) and not moved[5][..., :, 27].any()  # left by 1
    assert torch.equal(moved[4], x) and torch.equal(moved[0][..., 1:, 1:], x[..., :27, :27])    # itself; down-right
    views = [*moved, *[v.flip(-1) for v in moved]]
    with torch.no_grad():
        want = torch.stack([m.model(v).softmax(-1) for v in views]).mean(0)
        assert torch.allclose(m(x).softmax(-1), want, atol=1e-6)
        assert torch.allclose(m(x), m(x.flip(-1)), atol=1e-5)   # the views of a mirror are the mirrored views
    alone = build_model("lenet_bn", {"num_classes": 10, "shift_average": 2})
    assert isinstance(alone, ViewAverage) and not alone.flip and len(alone.views(x)) == 25
    with pytest.raises(UserError, match="shift_average must be a whole number ≥ 0"):
        build_model("lenet_bn", {"num_classes": 10, "shift_average": -1})
    with pytest.raises(UserError, match="shift_average must be a whole number ≤ 4"):
        build_model("lenet_bn", {"num_classes": 10, "shift_average": 5})


def test_flip_average_is_only_for_image_classifiers():
    with pytest.raises(UserError, match="no argument.*flip_average"):
        MODELS.get("rnn_classifier").resolve_args({"vocab_size": 30, "num_classes": 3}, {"flip_average": True})
    with pytest.raises(UserError, match="no argument.*shift_average"):
        MODELS.get("rnn_classifier").resolve_args({"vocab_size": 30, "num_classes": 3}, {"shift_average": 1})
    with pytest.raises(UserError, match="flip_average must be true or false"):
        build_model("lenet_bn", {"num_classes": 10, "flip_average": "yes"})
