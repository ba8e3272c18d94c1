"""The image-features input kind: image files → the image reader's [0, 1] pixels → the run's hand-made
features (`data.features`: FFT magnitudes, wavelet coefficients, standardized by the training split's
statistics saved in the run). `dlp predict RUN shirt.png`; `POST /predict` with image files, as for image runs."""
from __future__ import annotations

import torch

from ..data.features import apply_features
from . import InputKind, register_input
from .image import HOW, TAKES, body, images, read_images
from .image import describe as image_describe
from .image import noun as image_noun


def _features(meta: dict, batch: tuple[torch.Tensor, list[str]]) -> tuple[torch.Tensor, list[str]]:
    x, labels = batch   # the image reader's pixels: a features run's meta holds mean 0 and std 1
    return apply_features(meta["features"], x), labels


def read(meta: dict, inputs: list[str]) -> tuple[torch.Tensor, list[str]]:
    return _features(meta, images(meta, inputs))


def read_http(meta: dict, payload, limits) -> tuple[torch.Tensor, list[str]]:
    return _features(meta, read_images(meta, payload, limits))


def describe(meta: dict) -> dict:
    spec = meta["features"]
    shown = {k: spec[k] for k in ("kind", "wavelet", "level", "magnitudes", "count") if k in spec}
    return {**image_describe(meta), "input_shape": [int(spec["count"])], "features": shown}


def example(dims: dict, n: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, F) standardized-feature-like noise: F = the run's feature count (`in_features`)."""
    return torch.randn(n, int(dims.get("in_features") or 420), generator=generator)


def noun(meta: dict) -> str:
    return f"{image_noun(meta)} (as {int(meta['features']['count']):,} {meta['features']['kind']} features)"


register_input(InputKind("image-features", read, example, read_http, HOW, body=body, describe=describe,
                         takes=TAKES, noun=noun))
