"""`train.sync_bn`: BatchNorm whose training statistics are those of the global batch, over all ranks.

torch's `nn.SyncBatchNorm` runs on GPUs only; this one adds each channel's sum, sum of squares and count
over the ranks with an all-reduce that carries gradients back through the sum, on any backend — gloo on CPU included. It keeps BatchNorm's parameters and buffers under the same
names, so checkpoints load into the plain model, and in eval mode it is plain BatchNorm (running statistics,
no collective)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class _SumOverRanks(torch.autograd.Function):
    """A tensor added over the ranks; its gradient is the ranks' gradients added (every rank's loss
    depends on every rank's part of the sum)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist
        t = t.clone()
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm1d/2d/3d with the global batch's mean and (biased) variance in training; the running
    variance gets the unbiased one, as BatchNorm's does."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {x.dim()}-D)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        c, dims = x.shape[1], [0, *range(2, x.dim())]
        xf = x.float()
        count = torch.full((1,), x.numel() // c, dtype=torch.float32, device=x.device)
        stats = _SumOverRanks.apply(torch.cat([xf.sum(dims), (xf * xf).sum(dims), count]))   # (2C + 1,)
        n = stats[-1]
        if float(n.detach()) <= 1:
            raise ValueError("Expected more than 1 value per channel when training")
        mean = stats[:c] / n
        var = (stats[c:2 * c] / n - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                f = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - f).add_(f * mean.detach())
                self.running_var.mul_(1 - f).add_(f * var.detach() * n / (n - 1))
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def global_batchnorm(module: nn.Module) -> nn.Module:
    """`module` with every BatchNorm layer made a `GlobalBatchNorm` holding the same weights and buffers."""
    if isinstance(module, _BatchNorm) and not isinstance(module, GlobalBatchNorm):
        new = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats, device=next(module.buffers(), torch.empty(0)).device)
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        return new
    for name, child in module.named_children():
        setattr(module, name, global_batchnorm(child))
    return module
