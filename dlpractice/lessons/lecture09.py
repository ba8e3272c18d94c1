"""Lecture 9, softmax classifier (多分类问题): cross-entropy is softmax + NLL, checked on this run's logits;
the Otto Group competition's held-out log-loss and submission (otto.toml)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..runs.predictor import Predictor
from ._kaggle import submission
from .hooks import report


@report("softmax")
def softmax_report(folder: str | Path, result: dict | None = None) -> dict:
    """Lecture 9: softmax + negative log-likelihood is cross-entropy, numerically. On the course's worked
    example (z = [0.2, 0.1, -0.1], true class 0 → loss 0.9729) and on a batch of this run's own logits
    (the first 64 test examples): the loss by hand (softmax, then -log of the true class's probability),
    F.nll_loss(F.log_softmax(z)), and nn.CrossEntropyLoss()(z) — printed with their differences."""
    import torch.nn.functional as F
    z = np.array([0.2, 0.1, -0.1])
    p = np.exp(z) / np.exp(z).sum()
    course = float(-np.log(p[0]))
    course_torch = float(torch.nn.CrossEntropyLoss()(torch.tensor([[0.2, 0.1, -0.1]]), torch.tensor([0])))
    print(f"course example: z = {z.tolist()}, softmax = {np.round(p, 4).tolist()}, -log p[0] = {course:.4f}; "
          f"CrossEntropyLoss = {course_torch:.4f}")
    pred = Predictor(folder)
    test = pred.split("test", str(folder))
    x, y = test.x[:64], test.y[:64]
    with torch.no_grad():
        logits = pred.model(x).double()
    probs = torch.exp(logits - logits.max(1, keepdim=True).values)
    probs = probs / probs.sum(1, keepdim=True)                                 # softmax by hand
    by_hand = float(-torch.log(probs[torch.arange(len(y)), y]).mean())        # NLL of the true class
    nll = float(F.nll_loss(F.log_softmax(logits, dim=1), y))
    ce = float(torch.nn.CrossEntropyLoss()(logits, y))
    diff = max(abs(ce - nll), abs(ce - by_hand))
    print(f"a batch of {len(y)} test logits from this run: softmax + NLL by hand {by_hand:.10f}, "
          f"nll_loss(log_softmax) {nll:.10f}, CrossEntropyLoss {ce:.10f}; largest difference {diff:.2e}")
    return {"course_example_loss": course, "batch_softmax_nll": by_hand, "batch_nll_log_softmax": nll,
            "batch_cross_entropy": ce, "cross_entropy_minus_nll": diff}


@report("otto")
def otto_report(folder: str | Path, result: dict | None = None) -> dict:
    """After `otto`: the held-out multi-class log-loss (the cross-entropy loss of the best-by-validation
    checkpoint on the test split, never used to choose) and accuracy, and `submission.csv` with the 9 class
    probabilities for every id of test.csv."""
    metrics = (result or {}).get("metrics", {})
    out = {}
    if "loss" in metrics:
        out = {"test_log_loss": metrics["loss"], "test_accuracy": metrics["accuracy"]}
        print(f"held-out test split: multi-class log-loss {metrics['loss']:.4f}, accuracy {metrics['accuracy']:.4f} "
              "(Kaggle's winning private score ≈ 0.38)")
    return {**out, **submission(Path(folder), "otto", result)}


def _transform_seconds(runs: list[Path]) -> dict[str, float]:
    """Seconds each features run's transform takes on its data set's 10,000 test images (measured here,
    once per run, on images loaded once): what the features cost before any training."""
    import time

    from ..config import load_config
    from ..data import load_dataset
    from ..data.features import raw_features
    specs = {run.name: json.loads((run / "data.json").read_text(encoding="utf-8")).get("features") for run in runs}
    specs = {name: spec for name, spec in specs.items() if spec}
    if not specs:
        return {}
    cfg = load_config(runs[0] / "config.toml").data
    cfg.options, cfg.limit_train = {}, 0
    data = load_dataset(cfg)
    images = data.splits["test"].x * data.meta["std"] + data.meta["mean"]   # back to [0, 1]
    out = {}
    for name, spec in specs.items():
        start = time.perf_counter()
        raw_features(spec, images)
        out[name] = (time.perf_counter() - start) * 10_000 / len(images)
    return out


def _lessons(rows: list[dict]) -> list[str]:
    """What a learner should take from the table, said from its own numbers."""
    by = {r["run"]: r for r in rows}
    acc = {name: r["test_accuracy"] for name, r in by.items()}
    out = []
    if "pixels" in acc:
        base = acc["pixels"]
        for name in ("fft", "wavelet", "wavelet_abs", "fft_wavelet"):
            if name in acc:
                d = acc[name] - base
                out.append(f"- {name}: {acc[name]:.4f}, {abs(d) * 100:.1f} points {'above' if d > 0 else 'below'} "
                           f"the softmax classifier on raw pixels ({base:.4f}).")
    if "fft" in acc:
        out.append("- FFT magnitudes keep which spatial frequencies an image holds and drop where (the phase): "
                   "a shirt shifted sideways has the same magnitudes, and so can two quite different images.")
    if "wavelet" in acc:
        out.append("- An orthogonal wavelet (haar) only rotates the pixel space: its coefficients hold the same "
                   "information, so a *linear* classifier on them can do no better than on pixels, except through "
                   "the standardization of each coefficient.")
    if "wavelet_abs" in acc:
        out.append("- Taking their magnitudes (|·|, a non-linearity) is what lets the same classifier draw new "
                   "boundaries — the step a CNN learns instead of being given (its ReLU after each convolution).")
    cnn = [r for r in rows if r["transform"] is None and r["run"] != "pixels"]
    if cnn:
        r = cnn[0]
        best = max((x for x in rows if x is not r), key=lambda x: x["test_accuracy"], default=None)
        if best:
            out.append(f"- {r['run']} learns its features from the {r['features']:,} pixels: {r['test_accuracy']:.4f} with "
                       f"{r['params']:,} parameters, {(r['test_accuracy'] - best['test_accuracy']) * 100:+.1f} points "
                       f"against the best hand-made input ({best['run']}, {best['params']:,} parameters).")
    return out


@report("features")
def features_report(folder: str | Path, result: dict | None = None) -> dict:
    """Lecture 9's aside (快速傅里叶变换、小波变换): hand-made features against learned ones. One row per run
    of the lesson: what the classifier saw, how many numbers per image, its parameters, the test accuracy of
    its validation-chosen checkpoint, training seconds, and the transform's seconds per 10,000 images;
    `features.md`, and `features.png` (the accuracies side by side)."""
    from ..track.compare import bar_chart
    folder = Path(folder)
    table = json.loads((folder / "comparison.json").read_text(encoding="utf-8"))
    runs = [folder / row["run"] for row in table]
    transform = _transform_seconds(runs)
    rows, out = [], {}
    for row, run in zip(table, runs):
        meta = json.loads((run / "data.json").read_text(encoding="utf-8"))
        spec = meta.get("features")
        summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
        what = (spec["kind"] + (f" ({spec['wavelet']}, level {spec['level']}{', magnitudes' if spec.get('magnitudes') else ''})"
                                if "wavelet" in spec["kind"] else "") if spec else f"images → {summary['model']}")
        count = spec["count"] if spec else int(meta["in_channels"]) * int(meta["size"]) ** 2
        rows.append({"run": run.name, "what": what, "features": count, "params": summary["params"],
                     "test_accuracy": summary["metrics"]["accuracy"], "seconds": summary["wall_seconds"],
                     "transform": transform.get(run.name)})
        out[f"{run.name}.features"] = count
        if run.name in transform:
            out[f"{run.name}.transform_seconds_per_10k"] = transform[run.name]
    lines = ["| run | classifier input | numbers per image | parameters | test accuracy | training s | "
             "transform s / 10k images |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        cost = "" if r["transform"] is None else f"{r['transform']:.2f}"
        lines.append(f"| {r['run']} | {r['what']} | {r['features']:,} | {r['params']:,} | {r['test_accuracy']:.4f} | "
                     f"{r['seconds']:.1f} | {cost} |")
    text = "\n".join(lines + [""] + _lessons(rows))
    (folder / "features.md").write_text(text + "\n", encoding="utf-8")
    bar_chart(rows, "test_accuracy", folder / "features.png", note="{features:,} numbers, {seconds:.0f} s training",
              title="Hand-made features (softmax classifier) against a CNN's learned ones: Fashion-MNIST test accuracy")
    print(text)
    return out
