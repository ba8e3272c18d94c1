"""dlpractice: the course 《PyTorch深度学习实践》 as a working system — data, models, one loop, runs.

>>> import dlpractice
>>> cfg = dlpractice.load_config(overrides=["data.dataset=digits", "model.name=lenet_bn", "train.epochs=2"])
>>> run = dlpractice.train(cfg)            # doctest: +SKIP
>>> run.summary["test_accuracy"]           # doctest: +SKIP

Names are imported on first use, so `dlp --help` and `import dlpractice.scratch` stay quick and
the scratch engine (lectures 1–4) works without torch.
"""
import importlib
import os

# OpenMP threads that wait for work sleep instead of spinning for long: on a machine whose cores other jobs
# use, a spinning pool takes turns with them and a run collapses. But a thread that sleeps at once wakes too
# late for small layers' parallel regions (an MLP's step took 2× longer on 2 threads than on 1), so each
# spins 10,000 times first (GNU OpenMP, torch's on Linux; the count wins over the passive policy):
# docs/BENCHMARKS.md, "A busy machine". Both must be set before torch loads OpenMP, so here; values the
# user set win.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

__version__ = "0.1.0"

_API = {"RunConfig": "config", "load_config": "config", "resume": "train.loop", "Run": "runs.folder",
        "load_run": "runs.folder", "run_lesson": "lessons", "lesson_path": "lessons"}


def __getattr__(name):
    if name == "train":  # the `train` package is callable: dlpractice.train(cfg) -> Run
        return importlib.import_module(".train", __name__)
    if name in _API:
        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'dlpractice' has no attribute {name!r}")


__all__ = ["train", *_API]
