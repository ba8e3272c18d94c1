"""`dlp lesson features` (lecture 9's aside), quick, on scikit-learn's 8×8 digits (the lesson's own data set,
Fashion-MNIST, costs six loads of 70,000 images; the pipeline is the same): six runs — a softmax classifier
on pixels, FFT magnitudes, wavelet coefficients (and their magnitudes), FFT + wavelet, and the course CNN
(on the digits resized to 28×28) — and the report's table, figure and feature counts. The full run's
figures: docs/RESULTS.md."""
from __future__ import annotations

import json

from dlpractice.lessons import run_lesson


def test_features_lesson_quick(tmp_path, capsys):
    result, folder, ok = run_lesson("features", ["train.threads=1", "data.dataset=digits", "train.epochs=5"], out=tmp_path / "f",
                                    quick=True)
    out = capsys.readouterr().out
    assert [result[f"{v}.features"] for v in ("pixels", "fft", "wavelet", "wavelet_abs", "fft_wavelet", "course_cnn")] \
        == [64, 8 * 5, 64, 64, 8 * 5 + 64, 28 * 28]
    for v in ("pixels", "fft", "wavelet", "wavelet_abs", "fft_wavelet", "course_cnn"):
        assert result[f"{v}.accuracy"] > 0.3, v    # 5 epochs on 1,437 images: well above chance (0.1)
    assert result["fft_wavelet.transform_seconds_per_10k"] > 0 and "course_cnn.transform_seconds_per_10k" not in result
    table = (folder / "features.md").read_text()
    assert "| fft_wavelet | fft+wavelet (haar, level 2) | 104 |" in table
    assert "points below the softmax classifier on raw pixels" in out or "points above" in out
    assert (folder / "features.png").stat().st_size > 10_000 and (folder / "comparison.png").exists()
    spec = json.loads((folder / "wavelet_abs" / "data.json").read_text())["features"]
    assert spec["magnitudes"] is True and len(spec["mean"]) == len(spec["std"]) == 64
