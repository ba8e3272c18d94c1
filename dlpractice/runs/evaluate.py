"""Metrics of a model on one split (eval mode, batch by batch), shared by training, `dlp evaluate` and reports."""
from __future__ import annotations

import functools
from contextlib import nullcontext

import torch

from ..config import RunConfig
from ..data.loader import TensorLoader
from .ranks import ONE, Ranks
from .tasks import Task, add_sums, batch_sums


def evaluate(model, task: Task, x: torch.Tensor, y: torch.Tensor, cfg: RunConfig, device, ranks: Ranks = ONE) -> dict:
    """Metrics of `model` on one split, in eval mode, batch by batch. Over several ranks, rank r takes
    batches r, r + N, ... (no example twice, none padded) and the batches' sums are added in batch order on
    every rank: the same figures as one process evaluating the same weights."""
    return evaluate_outputs(model, task, x, y, cfg, device, ranks, keep=False)[0]


@torch.no_grad()
def evaluate_outputs(model, task: Task, x: torch.Tensor, y: torch.Tensor, cfg: RunConfig, device,
                     ranks: Ranks = ONE, keep: bool = True) -> tuple[dict, torch.Tensor | None]:
    """`evaluate`'s metrics and, with `keep`, the model's outputs for every example in order (float, CPU, on
    every rank): what train.calibrate fits its temperature to, from the same forward pass."""
    model.eval()
    loader = TensorLoader(x, y, cfg.data.eval_batch_size)
    size = loader.batch_size
    mine = []   # (batch index, its sums, its outputs and targets for metrics that are not sums)
    for b in range(ranks.rank, len(loader), ranks.world):
        xb, yb = to_device(x[b * size:(b + 1) * size], y[b * size:(b + 1) * size], device, cfg)
        with autocast(cfg, device, inference=True):
            out = model(xb)
        full = (out.float().cpu(), yb.cpu()) if keep or task.full_metrics is not None else None
        mine.append((b, batch_sums(task, out, yb, task.loss(out, yb, 0.0)), full))
    batches = sorted((m for part in ranks.gather(mine) for m in part), key=lambda m: m[0])
    sums: dict = {}
    for _, s, _ in batches:
        add_sums(sums, s)
    metrics = task.finish(sums) if sums else {}
    kept = torch.cat([f[0] for _, _, f in batches]) if batches and batches[0][2] is not None else None
    if task.full_metrics is not None and batches:   # ROC-AUC: Task.full_metrics
        metrics.update(task.full_metrics(kept, torch.cat([f[1] for _, _, f in batches])))
    return metrics, kept if keep else None


def to_device(xb, yb, device, cfg):
    xb = xb.to(device, non_blocking=True)
    if cfg.train.channels_last is True and xb.dim() == 4:   # "auto" is resolved before training
        xb = xb.contiguous(memory_format=torch.channels_last)
    return xb, yb.to(device, non_blocking=True)


AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}   # train.precision → autocast's dtype (fp32: none)


def autocast(cfg: RunConfig, device, inference: bool = False):
    """The run's precision (`train.precision`) on `device`. For `inference` (evaluation, prediction, serving) an
    fp16 run on a CPU that computes fp16 only in software runs in fp32: a GPU's fp16 run predicted on a laptop
    would take several times fp32's time there, and fp32 is at least as precise."""
    precision = cfg.train.precision
    if inference and precision == "fp16" and device.type == "cpu" and not fp16_native_cpu():
        precision = "fp32"
    return autocast_as(precision, device)


def autocast_as(precision: str, device):
    """Autocast to `precision` (fp32: none) on `device`."""
    dtype = AUTOCAST.get(precision)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


@functools.lru_cache(maxsize=None)
def fp16_native_cpu() -> bool:
    """Whether this CPU computes fp16 in hardware (AVX512-FP16 or AMX-FP16)."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_fp16_supported())

