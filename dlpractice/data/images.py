"""One image → the pixels a model sees: a PIL image of any mode → float32 (C, S, S) in [0, 1], C = 1 or 3.

The single conversion behind training (`imagefolder.read_images`) and prediction / serving
(`dlpractice.inputs.image.load_image`), so the two can never disagree.

- 8-bit modes (1, L, LA, P, PA, RGB, RGBA, CMYK, YCbCr, ...) are converted by PIL to gray (L, ITU-R 601
  luma) or RGB (alpha is ignored), resized with Lanczos in 8 bits and divided by 255.
- High-bit modes are scaled by their value range, never clipped: 16-bit (I;16, I;16B, I;16L, I;16N) by
  65,535; 32-bit integers (I) and floats (F) by the smallest of 255 / 65,535 / 2³¹−1 (I) or
  1 / 255 / 65,535 (F) that holds the image's maximum, and min–max when they hold negative values (or
  F values above 65,535); NaN and infinities become 0. Gray is repeated for 3 channels, resized with
  Lanczos on the floats and clipped to [0, 1].
"""
from __future__ import annotations

import numpy as np

_INT_RANGES = (255.0, 65535.0, 2.0 ** 31 - 1)
_FLOAT_RANGES = (1.0, 255.0, 65535.0)


def high_bit(mode: str) -> bool:
    """Modes PIL would clip when converting to 8-bit L or RGB."""
    return mode in ("I", "F") or mode.startswith("I;16")


def _unit_range(a: np.ndarray, mode: str) -> np.ndarray:
    """A 2-D high-bit array → float64 in [0, 1], scaled by its value range."""
    a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if mode.startswith("I;16") and a.min(initial=0.0) >= 0:
        return a / 65535.0
    lo, hi = float(a.min(initial=0.0)), float(a.max(initial=0.0))
    if lo >= 0:
        for top in (_FLOAT_RANGES if mode == "F" else _INT_RANGES):
            if hi <= top:
                return a / top
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def to_unit(im, channels: int, size: int | None = None) -> np.ndarray:
    """A decoded PIL image → float32 (channels, size, size) in [0, 1] (size None: its own height × width).

    Raises ValueError (from PIL) for a mode it cannot convert, e.g. LAB to gray."""
    from PIL import Image
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    target = (size, size) if size else im.size
    if not high_bit(im.mode):
        img = im.convert("L" if channels == 1 else "RGB")
        if img.size != target:
            img = img.resize(target, Image.Resampling.LANCZOS)
        a = np.asarray(img, dtype=np.float32) / np.float32(255.0)
        return np.ascontiguousarray(a[None] if channels == 1 else a.transpose(2, 0, 1))
    gray = _unit_range(np.asarray(im), im.mode).astype(np.float32)
    if gray.shape[::-1] != target:
        f = Image.fromarray(gray).resize(target, Image.Resampling.LANCZOS)
        gray = np.clip(np.asarray(f, dtype=np.float32), 0.0, 1.0)
    return np.ascontiguousarray(np.repeat(gray[None], channels, axis=0))
