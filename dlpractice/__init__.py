"""dlpractice: the course 《PyTorch深度学习实践》 as a working system — data, models, one loop, runs.

>>> import dlpractice
>>> cfg = dlpractice.load_config(overrides=["data.dataset=digits", "model.name=lenet_bn", "train.epochs=2"])
>>> run = dlpractice.train(cfg)            # doctest: +SKIP
>>> run.summary["test_accuracy"]           # doctest: +SKIP

Names are imported lazily, so `import dlpractice.scratch` (lectures 1–4) works without torch.
"""
__version__ = "0.1.0"

_API = {"RunConfig": "config", "load_config": "config", "train": "train.loop", "resume": "train.loop",
        "Run": "train.rundir", "load_run": "train.rundir", "run_lesson": "lessons"}


def __getattr__(name):
    if name in _API:
        import importlib
        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'dlpractice' has no attribute {name!r}")


__all__ = list(_API)
