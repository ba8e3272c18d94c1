"""Images of every PIL mode become the same [0, 1] pixels in training (the image-folder reader) and in
prediction / serving (`load_image`): 16-bit, 32-bit and float images scaled by their value range, never
clipped to white (a 0–62,640 gradient once became 99.5 % white)."""
import io

import numpy as np
import pytest
from PIL import Image

from dlpractice.data.imagefolder import read_images
from dlpractice.data.images import to_unit
from dlpractice.inputs.image import load_image

SIDE = 40            # files are 40×40 …
SIZE = 28            # … read at 28×28, so the resize path is exercised too
RAMP = np.linspace(0.0, 1.0, SIDE * SIDE).reshape(SIDE, SIDE)   # a gradient, mean 0.5


def _images():
    """mode → (file suffix, image, expected mean in [0, 1])."""
    g8 = np.round(RAMP * 255).astype(np.uint8)
    g16 = np.round(RAMP * 62640).astype(np.uint16)        # a real 16-bit scan's range: not up to 65,535
    rgb = np.stack([g8, (g8 * 0.9).astype(np.uint8), g8 // 2], -1)   # colours that still ramp in gray
    pal = Image.fromarray(rgb).convert("P")
    return {
        "L": ("png", Image.fromarray(g8), g8.mean() / 255),
        "LA": ("png", Image.fromarray(np.stack([g8, np.full_like(g8, 255)], -1), "LA"), g8.mean() / 255),
        "P": ("png", pal, np.asarray(pal.convert("L")).mean() / 255),
        "RGB": ("png", Image.fromarray(rgb), np.asarray(Image.fromarray(rgb).convert("L")).mean() / 255),
        "RGBA": ("png", Image.fromarray(np.concatenate([rgb, np.full_like(g8, 255)[..., None]], -1)),
                 np.asarray(Image.fromarray(rgb).convert("L")).mean() / 255),
        "I;16": ("png", Image.fromarray(g16), g16.mean() / 65535),
        "I;16B": ("tif", Image.frombytes("I;16B", (SIDE, SIDE), g16.astype(">u2").tobytes()), g16.mean() / 65535),
        "I": ("tif", Image.fromarray(g16.astype(np.int32)), g16.mean() / 65535),
        "F": ("tif", Image.fromarray(RAMP.astype(np.float32)), RAMP.mean()),
        "1": ("png", Image.fromarray(RAMP > 0.5).convert("1"), (RAMP > 0.5).mean()),
    }


CASES = _images()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("modes")
    out = {}
    for mode, (suffix, im, _) in CASES.items():
        path = root / f"{mode.replace(';', '_')}.{suffix}"
        im.save(path)
        with Image.open(path) as back:
            assert back.mode == mode, f"{mode} saved as {suffix} reads back as {back.mode}"
        out[mode] = path
    return out


def _meta(channels):
    return {"in_channels": channels, "native_size": SIZE, "size": SIZE, "mean": 0.0, "std": 1.0,
            "polarity": "as-is"}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("mode", list(CASES))
def test_every_mode_is_scaled_by_its_range_and_identical_in_training_and_prediction(files, mode, channels):
    x, y, skipped = read_images([(files[mode], 0)], SIZE, channels)
    assert not skipped and x.shape == (1, channels, SIZE, SIZE) and x.dtype == np.float32
    train = x[0]
    assert 0.0 <= train.min() and train.max() <= 1.0
    expected = CASES[mode][2]
    gray = train.mean() if channels == 1 or mode in ("I;16", "I;16B", "I", "F") else None
    if gray is not None:
        assert abs(float(gray) - expected) < 0.02, f"{mode}: mean {gray:.4f}, expected {expected:.4f}"
    if mode != "1":  # the gradient survives: dark top rows, bright bottom rows, nothing saturated
        band = train[0]                                    # gray, or red: a ramp in every case
        assert band[:4].mean() < 0.2 and band[-4:].mean() > 0.8
        assert (band >= 0.999).mean() < 0.05, f"{mode}: clipped to white"
    # prediction / serving read the very same pixels, from a path and from the request bytes
    predicted = load_image(files[mode], _meta(channels), files[mode].name)
    assert predicted.shape == (1, channels, SIZE, SIZE)
    np.testing.assert_array_equal(predicted[0].numpy(), train)
    served = load_image(io.BytesIO(files[mode].read_bytes()), _meta(channels), files[mode].name)
    np.testing.assert_array_equal(served[0].numpy(), train)


def test_the_sixteen_bit_gradient_is_no_longer_white():
    """The reported case: a 0–62,640 16-bit gradient read as 8-bit gray was 99.5 % white."""
    g16 = np.round(RAMP * 62640).astype(np.uint16)
    im = Image.fromarray(g16)
    assert (np.asarray(im.convert("L")) == 255).mean() > 0.95      # what PIL's own conversion does
    a = to_unit(im, 1)
    assert (a >= 0.999).mean() == 0 and abs(a.mean() - g16.mean() / 65535) < 1e-6


def test_value_ranges_of_int_and_float_images():
    ramp8 = np.round(RAMP * 255)
    assert abs(to_unit(Image.fromarray(ramp8.astype(np.int32)), 1).mean() - ramp8.mean() / 255) < 1e-6
    assert abs(to_unit(Image.fromarray(ramp8.astype(np.float32)), 1).mean() - ramp8.mean() / 255) < 1e-6
    signed = Image.fromarray((RAMP * 2000 - 1000).astype(np.float32))             # negative: min–max
    a = to_unit(signed, 1)
    assert a.min() == 0.0 and a.max() == 1.0
    nan = RAMP.astype(np.float32).copy()
    nan[0, 0] = np.nan
    assert np.isfinite(to_unit(Image.fromarray(nan), 1)).all()
    flat = to_unit(Image.fromarray(np.full((8, 8), -5.0, np.float32)), 3)
    assert flat.shape == (3, 8, 8) and (flat == 0).all()
