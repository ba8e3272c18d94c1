"""The model-zoo table: train each classic-family recipe on Fashion-MNIST and tabulate the results.

Usage: python bench/zoo.py [--quick] [--only NAME ...] [--out runs/zoo] [--write docs/zoo.md]

Per model: parameters, seconds per epoch on this machine, epochs, test accuracy of the
validation-chosen checkpoint, and the Dive into Deep Learning published test accuracy for the family.
Full length is about an hour of CPU on 2 cores; `--quick` runs each recipe's short version (same code
path, numbers not comparable with the anchors).
"""
from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

# lesson file → published Fashion-MNIST test accuracy of the family (Dive into Deep Learning, ch. 7–8)
ZOO = {
    "lenet": ("LeNet", 0.809),
    "zoo_alexnet": ("AlexNet", 0.884),
    "zoo_vgg": ("VGG", 0.920),
    "zoo_googlenet": ("GoogLeNet", 0.889),
    "zoo_resnet18": ("ResNet-18", 0.893),
}


def seconds_per_epoch(folder: Path) -> float:
    rows = list(csv.DictReader((folder / "timing.csv").open()))
    return statistics.median(float(r["seconds"]) for r in rows)


def run_zoo(names: list[str], out: Path, quick: bool, extra: list[str] | None = None) -> list[dict]:
    from dlpractice.lessons import run_lesson
    rows = []
    for name in names:
        family, anchor = ZOO[name]
        t0 = time.perf_counter()
        result, folder, ok = run_lesson(name, ["log.progress=false", *(extra or [])], out / name, quick=quick)
        s = result if "test_accuracy" in result else {}
        rows.append({"lesson": name, "family": family, "model": s.get("model"), "params": s.get("params"),
                     "s_per_epoch": round(seconds_per_epoch(folder), 1), "epochs": s.get("epochs"),
                     "test_accuracy": s.get("test_accuracy"), "anchor": anchor,
                     "beats_anchor": (s.get("test_accuracy") or 0) > anchor,
                     "wall_min": round((time.perf_counter() - t0) / 60, 1)})
    return rows


def markdown(rows: list[dict], quick: bool) -> str:
    lines = [f"Model zoo on Fashion-MNIST ({'quick versions, not comparable' if quick else 'full recipes'}); "
             "`python bench/zoo.py`",
             "",
             "| family | model | params | s/epoch | epochs | test accuracy | d2l | beats it | wall (min) |",
             "|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        lines.append(f"| {r['family']} | `{r['model']}` | {r['params']:,} | {r['s_per_epoch']} | {r['epochs']} | "
                     f"{r['test_accuracy']:.4f} | {r['anchor']:.3f} | {'yes' if r['beats_anchor'] else 'no'} | "
                     f"{r['wall_min']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="each recipe's short version (a smoke run)")
    ap.add_argument("--only", nargs="+", choices=sorted(ZOO), default=sorted(ZOO), help="which recipes")
    ap.add_argument("--out", type=Path, default=Path("runs/zoo"), help="parent folder of the runs")
    ap.add_argument("--write", type=Path, default=None, help="also write the table to this markdown file")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override for every recipe, e.g. --set train.epochs=1 to time one epoch on a quiet machine")
    a = ap.parse_args()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    table = markdown(run_zoo(a.only, a.out / stamp, a.quick, a.set), a.quick)
    print(table)
    if a.write:
        a.write.write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
