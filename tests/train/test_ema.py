"""train.ema's moving average (train/ema.py): weights and BatchNorm statistics averaged alike."""
import torch
from torch import nn

from dlpractice.train.ema import averaged_copy, update_average


def test_batchnorm_statistics_are_averaged_with_the_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    avg = averaged_copy(model)
    start = {k: v.clone() for k, v in avg.state_dict().items()}
    model(torch.randn(16, 3) * 5 + 2)            # training mode: the running statistics move
    with torch.no_grad():
        model[0].weight.add_(1.0)
    step, decay = 100, 0.9                        # keep = min(0.9, 101 / 110) = 0.9
    update_average(avg, model, decay, step)
    live, got = model.state_dict(), avg.state_dict()
    for k in ("0.weight", "1.running_mean", "1.running_var"):
        want = 0.9 * start[k] + 0.1 * live[k]
        assert torch.allclose(got[k], want, atol=1e-6), k
        assert not torch.allclose(got[k], live[k]), k      # not a copy of the live statistics
    assert got["1.num_batches_tracked"] == live["1.num_batches_tracked"] == 1   # counts are copied
    assert not any(p.requires_grad for p in avg.parameters())


def test_early_steps_keep_less():
    model = nn.Linear(2, 1)
    avg = averaged_copy(model)
    with torch.no_grad():
        model.weight.fill_(1.0)
        avg.weight.fill_(0.0)
    update_average(avg, model, 0.999, 0)          # keep = 1 / 10 at the first step
    assert torch.allclose(avg.weight, torch.full_like(avg.weight, 0.9))
