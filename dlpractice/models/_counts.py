"""Parameter counts of a registered model at its two configurations, built on the meta device.

A model on `torch.device("meta")` has shapes but no storage, so even VGG-19's 144 million parameters
are counted in milliseconds without allocating them.
"""
from __future__ import annotations

import torch

from ._registry import MODELS, count_params


def _count(name: str, kwargs: dict) -> int | None:
    spec = MODELS.get(name)
    args = {k: v for k, v in kwargs.items() if k in spec.accepts()}  # `paper` may hold e.g. input_size
    try:
        with torch.device("meta"):
            return count_params(spec.build(**args))
    except Exception:  # a model that needs data-derived arguments (vocabulary size, ...)
        return None


def small_param_count(name: str) -> int | None:
    """Parameters of `build_model(name, {})`: the default (small-input) configuration."""
    return _count(name, {})


def paper_param_count(name: str) -> int | None:
    """Parameters at the paper configuration (`ModelSpec.paper`), or None for a model without one."""
    paper = MODELS.get(name).paper
    return _count(name, paper) if paper else None
