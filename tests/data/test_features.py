"""Hand-made image features (data/features.py, lecture 9's aside): the FFT and wavelet features of known
images equal numpy's and PyWavelets' own, standardization uses the training split only, and a bad wavelet,
level or kind is one line, exit 2, before any run folder exists. The features run's predict / serve round
trip: tests/serve/test_serve_http.py; the lesson: tests/lessons/test_lessons_8_9.py."""
from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch

from dlpractice.cli import main
from dlpractice.config import DataConfig
from dlpractice.data import load_dataset
from dlpractice.data.features import apply_features, feature_spec, raw_features


def _images(n=3, side=28, seed=0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).random((n, 1, side, side), dtype=np.float32))


def test_fft_features_equal_numpys():
    x = _images()
    got = raw_features({"kind": "fft"}, x)
    assert got.shape == (3, 28 * 15)
    for i in range(3):
        want = np.abs(np.fft.rfft2(x[i, 0].double().numpy())).ravel()
        np.testing.assert_allclose(got[i].numpy(), want, rtol=1e-5, atol=1e-4)
    # a constant image: all its energy at frequency 0 (the sum of its pixels), nothing elsewhere
    const = raw_features({"kind": "fft"}, torch.full((1, 1, 28, 28), 0.5))[0]
    assert const[0] == pytest.approx(0.5 * 784, rel=1e-6) and float(const[1:].abs().max()) < 1e-4


@pytest.mark.parametrize("wavelet, level", [("haar", 2), ("db2", 2), ("sym4", 1)])
def test_wavelet_features_equal_pywavelets_own(wavelet, level):
    x = _images()
    spec = {"kind": "wavelet", "wavelet": wavelet, "level": level}
    got = raw_features(spec, x)
    for i in range(3):   # one 2-D image at a time, in double precision: wavedec2's order, flattened
        coeffs = pywt.wavedec2(x[i, 0].double().numpy(), wavelet, level=level)
        want = np.concatenate([coeffs[0].ravel()] + [d.ravel() for details in coeffs[1:] for d in details])
        np.testing.assert_allclose(got[i].numpy(), want, rtol=1e-5, atol=1e-5)
    assert torch.equal(raw_features({**spec, "magnitudes": True}, x), got.abs())
    both = raw_features({**spec, "kind": "fft+wavelet"}, x)
    assert torch.equal(both, torch.cat([raw_features({"kind": "fft"}, x), got], 1))   # FFT first, then wavelet


def test_haar_of_a_constant_image_is_all_approximation():
    got = raw_features({"kind": "wavelet", "wavelet": "haar", "level": 2}, torch.full((1, 1, 28, 28), 0.25))[0]
    approx, details = got[:7 * 7], got[7 * 7:]
    assert len(got) == 28 * 28   # orthogonal: as many coefficients as pixels
    assert torch.allclose(approx, torch.full_like(approx, 0.25 * 4)) and float(details.abs().max()) < 1e-6


def test_features_are_standardized_on_the_training_split_only():
    bundle = load_dataset(DataConfig(dataset="digits", options={"features": "fft"}))
    tr, te = bundle.splits["train"].x, bundle.splits["test"].x
    spec = bundle.meta["features"]
    assert bundle.meta["input"] == "image-features" and tr.shape[1] == spec["count"] == 8 * 5
    assert float(tr.mean(0).abs().max()) < 1e-4                       # train: centred (by its own mean) ...
    assert float(te.mean(0).abs().max()) > 1e-3                       # ... test: by train's, so not exactly
    plain = load_dataset(DataConfig(dataset="digits"))
    unit = plain.splits["test"].x * plain.meta["std"] + plain.meta["mean"]
    assert torch.allclose(apply_features(spec, unit), te, atol=1e-4)   # prediction's path = the split's


@pytest.mark.parametrize("options, message", [
    ({"features": "fft", "wavelet": "haar"}, "applies to wavelet features only"),
    ({"features": "wavelets"}, "did you mean 'wavelet'"),
    ({"features": "wavelet", "wavelet": "haa"}, "did you mean 'haar'"),
    ({"features": "wavelet", "wavelet": 3}, "not a discrete wavelet"),
    ({"features": "wavelet", "level": 4}, "too deep for 8×8 images with wavelet 'haar' (filter length 2): at most 3"),
    ({"features": "wavelet", "wavelet": "db4"}, "at most 0; choose a shorter wavelet"),
    ({"features": "wavelet", "level": 0}, "data.options.level must be a whole number from 1 to 16"),
    ({"level": 2}, "applies to hand-made features only"),
])
def test_bad_feature_options_are_one_line(options, message, tmp_path, capsys):
    sets = ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in options.items())
    code = main(["train", "--set", "data.dataset=digits", "--set", "model.name=tabular_classifier",
                 "--set", "data.options={" + sets + "}", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "run").exists()


def test_no_features_means_the_images():
    assert feature_spec({}, 28) is None
    assert feature_spec({"features": "pixels"}, 28) == {"kind": "pixels"}
