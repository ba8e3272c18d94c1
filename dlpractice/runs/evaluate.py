"""Metrics of a model on one split (eval mode, batch by batch), shared by training, `dlp evaluate` and reports."""
from __future__ import annotations

from contextlib import nullcontext

import torch

from ..config import RunConfig
from ..data.loader import TensorLoader
from .tasks import Task, add_sums, batch_sums


@torch.no_grad()
def evaluate(model, task: Task, x: torch.Tensor, y: torch.Tensor, cfg: RunConfig, device) -> dict:
    """Metrics of `model` on one split, in eval mode, batch by batch."""
    model.eval()
    sums: dict = {}
    outs, ys = [], []  # every output, for metrics that are not sums (ROC-AUC: Task.full_metrics)
    loader = TensorLoader(x, y, cfg.data.eval_batch_size)
    for xb, yb in loader.batches(0):
        xb, yb = to_device(xb, yb, device, cfg)
        with autocast(cfg, device):
            out = model(xb)
        add_sums(sums, batch_sums(task, out, yb, task.loss(out, yb, 0.0)))
        if task.full_metrics is not None:
            outs.append(out.float().cpu())
            ys.append(yb.cpu())
    metrics = task.finish(sums) if sums else {}
    if outs:
        metrics.update(task.full_metrics(torch.cat(outs), torch.cat(ys)))
    return metrics


def to_device(xb, yb, device, cfg):
    xb = xb.to(device, non_blocking=True)
    if cfg.train.channels_last and xb.dim() == 4:
        xb = xb.contiguous(memory_format=torch.channels_last)
    return xb, yb.to(device, non_blocking=True)


def autocast(cfg: RunConfig, device):
    if cfg.train.precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
