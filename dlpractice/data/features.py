"""Hand-made image features (lecture 9's aside, 快速傅里叶变换、小波变换): images → feature vectors, as part of
the data pipeline, before a classifier sees them.

`data.options.features` of an image data set (Fashion-MNIST, MNIST, digits):
- `"pixels"`: the image's pixels, flattened (the baseline: a softmax classifier on them is lecture 9's);
- `"fft"`: the 2-D discrete Fourier transform's magnitudes, |rfft2(image)| (a real image's spectrum is
  symmetric, so the half that rfft2 keeps holds every magnitude once: 28 × 15 per channel). The magnitude
  drops the phase: it says which spatial frequencies the image holds, not where;
- `"wavelet"`: the coefficients of `pywt.wavedec2(image, data.options.wavelet, level=data.options.level)`
  (the coarse approximation, then each level's horizontal, vertical and diagonal details, coarsest first),
  flattened; `data.options.magnitudes = true` takes their absolute values;
- `"fft+wavelet"`: both, side by side.

Each feature is then standardized by the training split's mean and standard deviation. The whole transform
(kind, wavelet, level, the statistics) is plain JSON in `meta["features"]`, saved in the run's `data.json`
and checkpoints, so `dlp predict` and `dlp serve` turn a new image into the same features
(`inputs/image_features.py`).
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError, did_you_mean
from .registry import Split, bool_option, int_option

KINDS = ("pixels", "fft", "wavelet", "fft+wavelet")
OPTIONS = ("features", "wavelet", "level", "magnitudes")   # the data.options this module reads
WAVELET_OPTIONS = ("wavelet", "level", "magnitudes")
DEFAULT_WAVELET, DEFAULT_LEVEL = "haar", 2


def _check_wavelet(name, level: int, side: int) -> None:
    """An unknown wavelet or a level deeper than the image allows: one line saying what is possible."""
    import pywt
    known = pywt.wavelist(kind="discrete")
    if not isinstance(name, str) or name not in known:
        families = ", ".join(f"{f}…" if f not in ("haar", "dmey") else f for f in pywt.families(short=True)
                             if any(w.startswith(f) for w in known))
        raise UserError(f"data.options.wavelet = {name!r} is not a discrete wavelet PyWavelets knows"
                        f"{did_you_mean(str(name), known)}; e.g. haar, db2, sym4, coif1 "
                        f"(families: {families}; pywt.wavelist(kind='discrete') lists all)")
    length = pywt.Wavelet(name).dec_len
    top = pywt.dwt_max_level(side, length)
    if level > top:
        raise UserError(f"data.options.level = {level} is too deep for {side}×{side} images with wavelet '{name}' "
                        f"(filter length {length}): at most {top}"
                        + ("; choose a shorter wavelet, e.g. haar" if top < 1 else ""))


def feature_spec(opts: dict, side: int) -> dict | None:
    """The transform asked for by `data.options` (None: the images themselves), checked before any work."""
    kind = opts.get("features")
    if kind is None:
        unused = [k for k in OPTIONS if k in opts]
        if unused:
            raise UserError(f"data.options.{unused[0]} applies to hand-made features only; set data.options.features "
                            f"(one of {', '.join(KINDS)}) or remove it")
        return None
    if kind not in KINDS:
        raise UserError(f"data.options.features = {kind!r} is not a feature transform{did_you_mean(str(kind), KINDS)}; "
                        f"choose one of: {', '.join(KINDS)}")
    spec: dict = {"kind": kind}
    if "wavelet" in kind:
        spec["wavelet"] = opts.get("wavelet", DEFAULT_WAVELET)
        spec["level"] = int_option(opts, "level", DEFAULT_LEVEL, 1, 16, "wavelet decomposition levels")
        spec["magnitudes"] = bool_option(opts, "magnitudes", False)
        _check_wavelet(spec["wavelet"], spec["level"], side)
    elif unused := [k for k in WAVELET_OPTIONS if k in opts]:
        raise UserError(f"data.options.{unused[0]} applies to wavelet features only (data.options.features = "
                        f"\"wavelet\" or \"fft+wavelet\"); remove it, or change data.options.features")
    return spec


def fft_magnitudes(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) images → (N, C·H·(W//2 + 1)) magnitudes of their 2-D DFT (torch.fft.rfft2)."""
    return torch.fft.rfft2(x.float()).abs().flatten(1)   # float32: 3× faster than double, within 1e-6


def wavelet_coefficients(x: torch.Tensor, wavelet: str, level: int, magnitudes: bool = False) -> torch.Tensor:
    """(N, C, H, W) images → their `pywt.wavedec2` coefficients over the last two axes, flattened in
    wavedec2's order: the approximation, then (horizontal, vertical, diagonal) per level, coarsest first."""
    import pywt
    n = len(x)
    coeffs = pywt.wavedec2(x.float().numpy(), wavelet, level=level, axes=(-2, -1))   # float32 in, float32 out
    parts = [coeffs[0].reshape(n, -1)] + [d.reshape(n, -1) for details in coeffs[1:] for d in details]
    out = torch.from_numpy(np.concatenate(parts, axis=1))
    return out.abs() if magnitudes else out


def raw_features(spec: dict, x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] (N, C, H, W) → unstandardized features (N, F) of the spec's kind."""
    kind = spec["kind"]
    if kind == "pixels":
        return x.flatten(1).float()
    parts = []
    if "fft" in kind:
        parts.append(fft_magnitudes(x))
    if "wavelet" in kind:
        parts.append(wavelet_coefficients(x, spec["wavelet"], spec["level"], spec.get("magnitudes", False)))
    return torch.cat(parts, dim=1)


def apply_features(spec: dict, x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] → the standardized features a run trained on (training and prediction alike)."""
    return _standardized(spec, raw_features(spec, x))


def _standardized(spec: dict, f: torch.Tensor) -> torch.Tensor:
    """Raw features → (f − mean) / std by the training split's statistics in `spec`."""
    if f.shape[1] != len(spec["mean"]):
        raise UserError(f"these images give {f.shape[1]} {spec['kind']} features, the run was trained on "
                        f"{len(spec['mean'])}; the images must be {spec['kind']}-transformed at the run's size")
    return (f - torch.tensor(spec["mean"])) / torch.tensor(spec["std"])


def features_splits(spec: dict, images: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]):
    """Every split's images → standardized features, the statistics from the training split only;
    returns (splits, spec with `count`, `mean` and `std` filled in)."""
    train = raw_features(spec, images["train"])
    std = train.std(0)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))   # a constant feature: centred, not divided by 0
    spec = {**spec, "count": int(train.shape[1]), "mean": train.mean(0).tolist(), "std": std.tolist()}
    splits = {k: Split(_standardized(spec, train) if k == "train" else apply_features(spec, v), labels[k])
              for k, v in images.items()}   # the training images' features are computed once
    return splits, spec
