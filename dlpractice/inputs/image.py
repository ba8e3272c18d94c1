"""The image input kind: image files (PNG, JPEG, ...) → the model's input: grayscale or RGB, resize, the
training normalization, and the data set's polarity (Fashion-MNIST and MNIST are light objects on a dark
background). `dlp predict RUN shirt.png`; `POST /predict` with the file as the body or a multipart form."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.imagefolder import MAX_PIXELS
from ..data.images import to_unit
from ..errors import UserError
from . import InputKind, register_input
from .http import HTTPError, Limits, Payload



def load_image(source, meta: dict, name: str = "image", max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """One image (path or file-like) → (1, C, S, S) tensor prepared exactly like the training data."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(source) as im:
            if im.width * im.height > max_pixels:
                raise UserError(f"{name} is {im.width}×{im.height}: too large (at most {max_pixels:,} pixels)")
            im.load()
            channels = int(meta.get("in_channels", 1))
            native, size = int(meta["native_size"]), int(meta["size"])
            # (C, H, W) in [0, 1], like pixel / scale in training: the training reader's own conversion
            x = to_unit(im, channels, native)
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
    border = np.concatenate([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], axis=None)
    if meta.get("polarity") == "light-on-dark" and border.mean() > 0.5:
        x = 1.0 - x  # a dark drawing on white paper becomes the light-on-dark image the model saw
    t = torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(0)   # (1, C, H, W)
    if size != native:
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return (t - meta["mean"]) / meta["std"]


def images(meta: dict, inputs: list[str]) -> tuple[torch.Tensor, list[str]]:
    if not inputs:
        raise UserError("give one or more image files, e.g. dlp predict RUN shirt.png")
    return torch.cat([load_image(Path(p), meta, p) for p in inputs]), list(inputs)


HOW = "the image file as the body (image/png, image/jpeg, ...), or a multipart form of files"


def _check_pixels(files: list[tuple[str, bytes]], limits: Limits) -> None:
    """A 413 for an image over `max_pixels`, or images over `max_total_pixels` together, read from the
    headers before anything is decoded (a 2000×2000 PNG of one colour is a few KB). A file PIL cannot
    identify is left to the decoder, which names the problem."""
    from PIL import Image
    total = 0
    for name, data in files:
        try:
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
        except Exception:  # noqa: BLE001  (not an image, a bomb, a broken header: load_image says which)
            continue
        if w * h > limits.max_pixels:
            raise HTTPError(413, f"{name} is {w}×{h}: too large (at most {limits.max_pixels:,} pixels)")
        total += w * h
        if total > limits.max_total_pixels:
            raise HTTPError(413, f"the images hold over {limits.max_total_pixels:,} pixels together (at {name}): "
                                 "too large for one request; send fewer or smaller images")


def read_images(meta: dict, payload: Payload, limits: Limits) -> tuple[torch.Tensor, list[str]]:
    if payload.files is None:
        raise HTTPError(415, f"this image run takes {HOW}; got {payload.content_type or 'no Content-Type'}")
    if not payload.files:
        raise HTTPError(422, "no image in the request: send a PNG or JPEG file")
    if len(payload.files) > limits.max_items:
        raise HTTPError(413, f"{len(payload.files)} images in one request; at most {limits.max_items}")
    _check_pixels(payload.files, limits)
    xs = []
    for name, data in payload.files:
        payload.check_time(f"{len(xs)} of {len(payload.files)} images")
        try:
            xs.append(load_image(io.BytesIO(data), meta, name, limits.max_pixels))
        except UserError as e:
            raise HTTPError(413 if "too large" in str(e) else 422, str(e)) from None
        except Exception as e:  # an untrusted file: any decoder failure (struct.error, ...) is bad input
            raise HTTPError(422, f"{name} could not be decoded as an image ({type(e).__name__})") from None
    return torch.cat(xs), [name for name, _ in payload.files]


def describe(meta: dict) -> dict:
    c, s = int(meta.get("in_channels", 1)), int(meta["size"])
    return {"input_shape": [c, s, s], "image": {"channels": c, "size": s, "native_size": int(meta["native_size"]),
                                                 "polarity": meta.get("polarity")}}


def example(dims: dict, n: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, C, S, S) noise: C = in_channels (1), S = the run's size (28)."""
    c, s = int(dims.get("in_channels", 1)), int(dims.get("size") or 28)
    return torch.randn(n, c, s, s, generator=generator)


def body(meta: dict, limits: Limits) -> dict:
    """POST /predict's request content: one image file as the body, or a form of 1 … max_items files."""
    image = {"type": "string", "format": "binary"}
    return {"image/png": {"schema": image}, "image/jpeg": {"schema": image},
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "array", "items": image, "minItems": 1, "maxItems": limits.max_items}}}}}


def noun(meta: dict) -> str:
    s, c = int(meta["size"]), int(meta.get("in_channels", 1))
    return f"{s}×{s} {'grey' if c == 1 else 'colour'} images"


TAKES = "image files"
register_input(InputKind("image", images, example, read_images, HOW, body=body, describe=describe, takes=TAKES,
                         noun=noun))
