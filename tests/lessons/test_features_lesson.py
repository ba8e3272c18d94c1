"""`dlp lesson features` (lecture 9's aside), quick: six runs — a softmax classifier on pixels, FFT magnitudes,
wavelet coefficients (and their magnitudes), FFT + wavelet, and the course CNN — and the report's table,
figure and feature counts. The full run's figures: docs/RESULTS.md."""
from __future__ import annotations

import json

from dlpractice.lessons import run_lesson


def test_features_lesson_quick(tmp_path, capsys, fashion):
    result, folder, ok = run_lesson("features", ["train.threads=1"], out=tmp_path / "f", quick=True)
    out = capsys.readouterr().out
    assert [result[f"{v}.features"] for v in ("pixels", "fft", "wavelet", "wavelet_abs", "fft_wavelet", "course_cnn")] \
        == [784, 28 * 15, 784, 784, 28 * 15 + 784, 784]
    for v in ("pixels", "fft", "wavelet", "wavelet_abs", "fft_wavelet", "course_cnn"):
        assert result[f"{v}.accuracy"] > 0.3, v    # 1 epoch on 3,000 images: far above chance (0.1)
    assert result["fft_wavelet.transform_seconds_per_10k"] > 0 and "course_cnn.transform_seconds_per_10k" not in result
    table = (folder / "features.md").read_text()
    assert "| fft_wavelet | fft+wavelet (haar, level 2) | 1,204 |" in table
    assert "points below the softmax classifier on raw pixels" in out or "points above" in out
    assert (folder / "features.png").stat().st_size > 10_000 and (folder / "comparison.png").exists()
    spec = json.loads((folder / "wavelet_abs" / "data.json").read_text())["features"]
    assert spec["magnitudes"] is True and len(spec["mean"]) == len(spec["std"]) == 784
