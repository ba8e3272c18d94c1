"""dlpractice: the course 《PyTorch深度学习实践》 as a working system — data, models, one loop, runs.

>>> import dlpractice
>>> cfg = dlpractice.load_config(overrides=["data.dataset=digits", "model.name=lenet_bn", "train.epochs=2"])
>>> run = dlpractice.train(cfg)            # doctest: +SKIP
>>> run.summary["test_accuracy"]           # doctest: +SKIP
"""
__version__ = "0.1.0"

from .config import RunConfig, load_config  # noqa: E402,F401
from .train.loop import resume, train  # noqa: E402,F401
from .train.rundir import Run, load_run  # noqa: E402,F401
