"""The scratch engine against torch.autograd: every op's value and gradient, layers, losses, SGD."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dlpractice.scratch import Tensor, losses, nn, no_grad, optim

# Modest example counts keep the whole file well under 30 s on two shared cores.
SETTINGS = settings(max_examples=25, deadline=None)
RTOL, ATOL = 1e-6, 1e-12

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
floats = st.floats(-3, 3, allow_nan=False, allow_infinity=False, width=64)
positive = st.floats(0.2, 3, allow_nan=False, allow_infinity=False, width=64)


def arrays(shape, elements=floats):
    return hnp.arrays(np.float64, shape, elements=elements)


def check(fn, *inputs, engine_fn=None):
    """Apply fn to engine tensors and to torch tensors; compare outputs and input gradients.

    The output is reduced with random weights (sum(out * G)) so the upstream gradient is not
    all ones, which would hide transposition and broadcasting mistakes.
    """
    engine_fn = engine_fn or fn
    ours = [Tensor(x, requires_grad=True) for x in inputs]
    theirs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    out, ref = engine_fn(*ours), fn(*theirs)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=RTOL, atol=ATOL)
    weights = np.random.default_rng(0).normal(size=out.shape)
    (out * weights).sum().backward()
    (ref * torch.tensor(weights)).sum().backward()
    for o, t in zip(ours, theirs):
        expected = t.grad.numpy() if t.grad is not None else np.zeros_like(o.data)
        got = o.grad if o.grad is not None else np.zeros_like(o.data)
        assert got.shape == o.shape
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


# ---- elementwise binary ops with broadcasting ---------------------------------------------
pair_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4)
FIXED_PAIRS = [((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((), (2, 3)), ((2, 3), ()), ((4, 1, 3), (2, 1))]

BINARY = {
    "add": (lambda a, b: a + b, floats, floats),
    "sub": (lambda a, b: a - b, floats, floats),
    "mul": (lambda a, b: a * b, floats, floats),
    "div": (lambda a, b: a / b, floats, positive),
    "pow": (lambda a, b: a ** b, positive, st.floats(-2, 2, width=64)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(data=st.data())
def test_binary_ops_broadcast(name, data):
    fn, ea, eb = BINARY[name]
    sa, sb = data.draw(st.one_of(pair_shapes.map(lambda s: s.input_shapes), st.sampled_from(FIXED_PAIRS)))
    check(fn, data.draw(arrays(sa, ea)), data.draw(arrays(sb, eb)))


SCALAR_FORMS = {
    "add_r": (lambda t: 2.5 + t, floats), "add_l": (lambda t: t + 2.5, floats),
    "sub_r": (lambda t: 1.5 - t, floats), "sub_l": (lambda t: t - 1.5, floats),
    "mul_r": (lambda t: 3.0 * t, floats), "mul_l": (lambda t: t * -0.5, floats),
    "div_r": (lambda t: 2.0 / t, positive), "div_l": (lambda t: t / 4.0, floats),
    "pow_int": (lambda t: t ** 3, floats), "pow_frac": (lambda t: t ** 0.5, positive),
    "pow_neg": (lambda t: t ** -1.5, positive), "rpow": (lambda t: 2.0 ** t, floats),
    "neg": (lambda t: -t, floats),
}


@pytest.mark.parametrize("name", sorted(SCALAR_FORMS))
@SETTINGS
@given(data=st.data())
def test_scalar_on_either_side(name, data):
    fn, elements = SCALAR_FORMS[name]
    check(fn, data.draw(arrays(data.draw(shapes), elements)))


# ---- elementwise unary ops -----------------------------------------------------------------
UNARY = {
    "exp": (lambda t: t.exp(), floats),
    "log": (lambda t: t.log(), positive),
    "relu": (lambda t: t.relu(), floats),
    "sigmoid": (lambda t: t.sigmoid(), st.floats(-40, 40, width=64)),
    "tanh": (lambda t: t.tanh(), floats),
    "abs": (lambda t: t.abs(), floats),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(data=st.data())
def test_unary_ops(name, data):
    fn, elements = UNARY[name]
    check(fn, data.draw(arrays(data.draw(shapes), elements)))


# ---- reductions and shape ops --------------------------------------------------------------
@pytest.mark.parametrize("op", ["sum", "mean"])
@SETTINGS
@given(data=st.data())
def test_reductions(op, data):
    x = data.draw(arrays(data.draw(shapes)))
    axes = st.none() | st.integers(-x.ndim, x.ndim - 1) if x.ndim else st.none()
    if x.ndim > 1:
        axes = axes | st.lists(st.integers(0, x.ndim - 1), min_size=1, max_size=x.ndim, unique=True).map(tuple)
    axis, keep = data.draw(axes), data.draw(st.booleans())

    def torch_fn(t):
        if axis is None:
            out = getattr(t, op)()
            return out.reshape((1,) * t.ndim) if keep else out
        return getattr(t, op)(dim=axis, keepdim=keep)

    check(torch_fn, x, engine_fn=lambda t: getattr(t, op)(axis=axis, keepdims=keep))


@SETTINGS
@given(data=st.data())
def test_reshape_and_transpose(data):
    x = data.draw(arrays(data.draw(shapes)))
    perm = data.draw(st.permutations(range(x.ndim)))
    check(lambda t: t.reshape(-1), x)
    check(lambda t: t.reshape(tuple(reversed(x.shape))), x)
    check(lambda t: t.permute(tuple(perm)), x, engine_fn=lambda t: t.transpose(tuple(perm)))
    if x.ndim == 2:
        check(lambda t: t.T, x)


@SETTINGS
@given(data=st.data())
def test_getitem(data):
    x = data.draw(arrays(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5)))
    n = x.shape[0]
    rows = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=6))  # repeats on purpose
    check(lambda t: t[np.array(rows)], x)
    check(lambda t: t[1:], x)
    check(lambda t: t[-1], x)
    mask = data.draw(hnp.arrays(np.bool_, x.shape))
    check(lambda t: t[torch.tensor(mask)], x, engine_fn=lambda t: t[mask])
    if x.ndim >= 2:
        cols = data.draw(st.lists(st.integers(0, x.shape[1] - 1), min_size=len(rows), max_size=len(rows)))
        check(lambda t: t[np.array(rows), np.array(cols)], x)


MATMUL_SHAPES = [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
                 ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 2))]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_matmul(sa, sb, data):
    check(lambda a, b: a @ b, data.draw(arrays(sa)), data.draw(arrays(sb)))


def test_numpy_array_on_the_left():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0]) * x + np.ones(2)
    assert isinstance(y, Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


# ---- layers, losses, optimizer against torch ----------------------------------------------
def _twin_linear(fan_in, fan_out, seed):
    ours = nn.Linear(fan_in, fan_out, rng=np.random.default_rng(seed))
    theirs = torch.nn.Linear(fan_in, fan_out).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
        theirs.bias.copy_(torch.from_numpy(ours.bias.data))
    return ours, theirs


LOSSES = {
    "mse": (losses.mse_loss, torch.nn.functional.mse_loss, lambda rng, n, c: rng.normal(size=(n, c))),
    "bce": (losses.binary_cross_entropy_with_logits, torch.nn.functional.binary_cross_entropy_with_logits,
            lambda rng, n, c: rng.integers(0, 2, size=(n, c)).astype(np.float64)),
    "ce": (losses.cross_entropy, torch.nn.functional.cross_entropy, lambda rng, n, c: rng.integers(0, c, size=n)),
}


@pytest.mark.parametrize("loss", sorted(LOSSES))
@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 6), d=st.integers(1, 5), c=st.integers(1, 4), seed=st.integers(0, 2**16),
       scale=st.sampled_from([1.0, 30.0]))  # 30: logits large enough to need the stable forms
def test_mlp_layer_with_loss(loss, n, d, c, seed, scale):
    ours_fn, torch_fn, make_target = LOSSES[loss]
    rng = np.random.default_rng(seed)
    x, target = rng.normal(size=(n, d)) * scale, make_target(rng, n, c)
    l1, t1 = _twin_linear(d, 5, seed)
    l2, t2 = _twin_linear(5, c, seed + 1)
    ours = ours_fn(l2(l1(Tensor(x)).tanh()), target)
    theirs = torch_fn(t2(torch.tanh(t1(torch.from_numpy(x)))), torch.from_numpy(target))
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=RTOL, atol=ATOL)
    ours.backward()
    theirs.backward()
    for p, q in zip(l1.parameters() + l2.parameters(), list(t1.parameters()) + list(t2.parameters())):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=RTOL, atol=1e-10)


def test_sequential_and_linear_init():
    model = nn.Sequential(nn.Linear(8, 16, rng=np.random.default_rng(0)), nn.ReLU(),
                          nn.Linear(16, 1, rng=np.random.default_rng(1)), nn.Sigmoid())
    shapes_ = [p.shape for p in model.parameters()]
    assert shapes_ == [(16, 8), (16,), (1, 16), (1,)]  # torch's (out, in) layout
    w = model[0].weight.data
    assert np.abs(w).max() <= 1 / np.sqrt(8) and np.abs(w).max() > 0.5 / np.sqrt(8)
    assert model(np.zeros((3, 8))).shape == (3, 1)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_matches_torch(momentum):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    ours, theirs = _twin_linear(3, 2, 0)
    opt = optim.SGD(ours.parameters(), lr=0.1, momentum=momentum)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=momentum)
    for _ in range(5):
        opt.zero_grad()
        losses.mse_loss(ours(x), y).backward()
        opt.step()
        topt.zero_grad()
        torch.nn.functional.mse_loss(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        topt.step()
    np.testing.assert_allclose(ours.weight.data, theirs.weight.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.bias.data, theirs.bias.detach().numpy(), rtol=1e-12)


# ---- graph mode, gradient bookkeeping ------------------------------------------------------
def test_no_grad_stops_recording():
    w = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        y = w * 3 + 1
    assert not y.requires_grad and y._prev == ()
    z = w * 3  # recording again after the block
    assert z.requires_grad and z._prev

    @no_grad()
    def f(t):
        return t.exp()

    assert not f(w).requires_grad
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_zero_grad():
    layer = nn.Linear(2, 2, rng=np.random.default_rng(0))
    layer(np.ones((1, 2))).sum().backward()
    assert all(p.grad is not None for p in layer.parameters())
    layer.zero_grad()
    assert all(p.grad is None for p in layer.parameters())
    opt = optim.SGD(layer.parameters(), lr=0.1)
    layer(np.ones((1, 2))).sum().backward()
    opt.zero_grad()
    assert all(p.grad is None for p in layer.parameters())
    t = Tensor(1.0, requires_grad=True)
    (t * 2).backward()
    t.zero_grad()
    assert t.grad is None


def test_gradients_accumulate_over_two_backward_calls():
    w = Tensor([1.0, -2.0], requires_grad=True)
    x = np.array([3.0, 5.0])
    h = w * x  # an interior node shared by the loss: its own grad must not pile up between passes
    loss = (h * h).sum() + h.sum()
    loss.backward()
    first = w.grad.copy()
    loss.backward()  # same graph again
    np.testing.assert_allclose(w.grad, 2 * first)
    (w * x).sum().backward()  # a fresh graph adds on top
    np.testing.assert_allclose(w.grad, 2 * first + x)
    tw = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    th = tw * torch.from_numpy(x)
    tl = (th * th).sum() + th.sum()
    tl.backward(retain_graph=True)
    tl.backward()
    np.testing.assert_allclose(w.grad - x, tw.grad.numpy())


def test_engine_does_not_import_torch():
    # dlpractice/__init__.py itself pulls in the torch training loop, so the parent package is
    # stubbed (a bare module with the right __path__) to check the scratch files alone.
    import dlpractice

    code = (
        "import sys, types; pkg = types.ModuleType('dlpractice'); "
        f"pkg.__path__ = {list(dlpractice.__path__)!r}; sys.modules['dlpractice'] = pkg; "
        "import dlpractice.scratch, dlpractice.scratch.engine, dlpractice.scratch.nn, "
        "dlpractice.scratch.optim, dlpractice.scratch.losses, dlpractice.scratch.graph; "
        "assert dlpractice.scratch.Tensor([1.0]).data.dtype.name == 'float64'; "
        "assert 'torch' not in sys.modules, 'the scratch engine imported torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_graph_text_and_dot(tmp_path):
    from dlpractice.scratch import dot, graph, render

    w = Tensor(np.ones((2, 3)), requires_grad=True, name="w")
    h = w @ np.ones(3)  # (2,)
    loss = (h * h).sum()  # h used twice: drawn once, then referred to
    text = graph(loss)
    assert text.splitlines()[0].startswith("#") and "sum shape=()" in text.splitlines()[0]
    assert "matmul shape=(2,)" in text and "w leaf, requires_grad shape=(2, 3)" in text
    assert "(see above)" in text
    source = dot(loss)
    assert source.startswith("digraph") and source.count('label="mul"') == 1
    drawn = render(loss, tmp_path / "g")
    assert (tmp_path / "g.dot").read_text() == source and drawn.exists()
