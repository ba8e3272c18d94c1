"""build_optimizer: fused kernels by default where torch has them for the parameters' device, the user's
optim.args choosing otherwise, and the same steps as torch's per-parameter loop up to float rounding."""
import pytest
import torch

from dlpractice.config import load_config
from dlpractice.train.optim import build_optimizer


def _opt(*sets, params=None):
    cfg = load_config(overrides=list(sets))
    return build_optimizer(cfg.optim, params if params is not None else torch.nn.Linear(4, 3).parameters())


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "adagrad"])
def test_fused_by_default_where_torch_has_a_fused_kernel(name):
    assert _opt(f"optim.name={name}").defaults["fused"] is True


@pytest.mark.parametrize("name", ["lbfgs", "rmsprop", "adamax", "rprop", "asgd"])
def test_optimizers_without_a_fused_kernel_are_built_as_before(name):
    assert not _opt(f"optim.name={name}").defaults.get("fused")


@pytest.mark.parametrize("args", ["{fused = false}", "{foreach = true}"])
def test_the_users_choice_of_implementation_wins(args):
    opt = _opt("optim.name=adam", f"optim.args={args}")
    assert not opt.defaults["fused"]


def test_parameters_on_a_device_without_fused_kernels_keep_the_loop():
    meta = [torch.nn.Parameter(torch.zeros(3, device="meta"))]   # no fused kernel there: built as before
    assert not _opt("optim.name=adam", params=meta).defaults.get("fused")
    groups = [{"params": [torch.nn.Parameter(torch.zeros(3))]}]    # parameter groups: the caller's own layout
    assert not _opt("optim.name=adam", params=groups).defaults.get("fused")


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_fused_steps_follow_the_per_parameter_loop(name):
    torch.manual_seed(0)
    a = torch.nn.Linear(32, 16)
    b = torch.nn.Linear(32, 16)
    b.load_state_dict(a.state_dict())
    fused = _opt(f"optim.name={name}", params=a.parameters())
    loop = _opt(f"optim.name={name}", "optim.args={fused = false}", params=b.parameters())
    for _ in range(50):
        x = torch.randn(8, 32)
        for m, o in ((a, fused), (b, loop)):
            o.zero_grad()
            m(x).square().mean().backward()
            o.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_settings_torch_refuses_together_are_one_line():
    from dlpractice.errors import UserError
    with pytest.raises(UserError, match=r"optimizer 'adam' rejects its settings .*`fused` and `foreach` cannot be "
                                        r"`True` together"):
        _opt("optim.name=adam", "optim.args={fused = true, foreach = true}")
