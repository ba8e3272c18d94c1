"""Training: the epoch skeleton and the two loops on it (supervised, GAN), optimizers and schedules, devices.

This package is callable, so that `dlpractice.train(cfg)` is the training function even though
`dlpractice.train` is also this package (Python binds a subpackage to its parent's attribute).
"""
import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self, cfg, out=None, loggers=None):
        """Train `cfg` into a new run folder; see `dlpractice.train.loop.train`."""
        from .loop import train
        return train(cfg, out=out, loggers=loggers)


sys.modules[__name__].__class__ = _CallablePackage
