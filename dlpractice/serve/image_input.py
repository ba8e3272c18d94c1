"""Image files (PNG, JPEG, ...) → the model's input: grayscale, resize, the training normalization,
and the data set's polarity (Fashion-MNIST and MNIST are light objects on a dark background)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from .inputs import register_input

MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding


def load_image(source, meta: dict, name: str = "image", max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """One image (path or file-like) → (1, C, S, S) tensor prepared exactly like the training data."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(source) as im:
            if im.width * im.height > max_pixels:
                raise UserError(f"{name} is {im.width}×{im.height}: too large (at most {max_pixels:,} pixels)")
            im.load()
            channels = int(meta.get("in_channels", 1))
            img = im.convert("RGB" if channels == 3 else "L")
    except FileNotFoundError:
        raise UserError(f"image not found: {name}") from None
    except IsADirectoryError:
        raise UserError(f"{name} is a folder, not an image file") from None
    except Image.DecompressionBombError:  # PIL refuses > 2 × its own pixel limit while opening
        raise UserError(f"{name} is too large (at most {max_pixels:,} pixels)") from None
    except UnidentifiedImageError:
        raise UserError(f"{name} is not an image PIL can read (PNG, JPEG, BMP, GIF, ...)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise UserError(f"{name} is a damaged or truncated image ({e})") from None
    native, size = int(meta["native_size"]), int(meta["size"])
    if img.size != (native, native):
        img = img.resize((native, native), Image.Resampling.LANCZOS)
    x = np.asarray(img, dtype=np.float32) / 255.0         # (H, W) or (H, W, 3) in [0, 1], like pixel / scale
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    if meta.get("polarity") == "light-on-dark" and border.mean() > 0.5:
        x = 1.0 - x  # a dark drawing on white paper becomes the light-on-dark image the model saw
    t = torch.from_numpy(np.ascontiguousarray(x.reshape(native, native, channels).transpose(2, 0, 1)))
    t = t.unsqueeze(0)                                     # (1, C, H, W)
    if size != native:
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return (t - meta["mean"]) / meta["std"]


@register_input("image")
def images(meta: dict, inputs: list[str]) -> tuple[torch.Tensor, list[str]]:
    if not inputs:
        raise UserError("give one or more image files, e.g. dlp predict RUN shirt.png")
    return torch.cat([load_image(Path(p), meta, p) for p in inputs]), list(inputs)
