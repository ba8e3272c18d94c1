"""Live curves in visdom: one environment per run, one window per metric, a line per split.

The server address comes from `$DLP_VISDOM` (default http://127.0.0.1:8097, where `dlp board --visdom`
listens). A server that cannot be reached costs one warning; training and the CSV go on untouched.
"""
from __future__ import annotations

import logging
import math
import os
import warnings

from ..runs.metrics import read_metrics
from .loggers import Logger

DEFAULT_URL = "http://127.0.0.1:8097"
SPLITS = ("train", "val", "test")


def server_url() -> str:
    return os.environ.get("DLP_VISDOM", DEFAULT_URL).rstrip("/")


class VisdomLogger(Logger):
    """Redraws each metric's window every epoch from the whole history, so a window is always complete
    (also after a resume or after the browser tab was opened late)."""

    def __init__(self, url: str | None = None):
        self.url = url or server_url()
        self.vis = None
        self.history: dict[int, dict[str, dict]] = {}   # epoch → split → metrics

    def _warn(self, what: str) -> None:
        self.vis = None   # one warning, then silence: the run must not slow down or fail for a dashboard
        warnings.warn(f"visdom: {what} at {self.url}; training goes on without live curves "
                      "(start a server with `dlp board --visdom`, or set $DLP_VISDOM)", stacklevel=3)

    def start(self, folder, info, first_epoch):
        self.env = folder.name
        self.title = f"{info['model']} on {info['dataset']}"
        for r in read_metrics(folder):   # a resumed run: the epochs the CSV already holds
            if r["epoch"] < first_epoch:
                self.history.setdefault(r["epoch"], {})[r["split"]] = {
                    k: v for k, v in r.items() if k not in ("epoch", "split", "lr") and v is not None}
        try:
            from urllib.parse import urlparse

            import visdom
            logging.getLogger("visdom").setLevel(logging.ERROR)  # its own notices are not ours to print
            u = urlparse(self.url)
            with warnings.catch_warnings():   # visdom 0.2.4 calls the deprecated logger.warn
                warnings.simplefilter("ignore", DeprecationWarning)
                self.vis = visdom.Visdom(server=f"{u.scheme}://{u.hostname}", port=u.port or 8097,
                                         env=self.env, raise_exceptions=True, use_incoming_socket=False)
        except ImportError:
            return self._warn("the visdom package is not installed")
        except Exception:   # requests' connection errors and visdom's ConnectionError alike
            return self._warn("no server answers")
        if self.history:
            self._draw()

    def epoch(self, epoch, metrics, lr, seconds, timing=None):
        self.history[epoch] = {split: dict(m) for split, m in metrics.items()}
        if self.vis is not None:
            self._draw()

    def _draw(self) -> None:
        import numpy as np
        epochs = sorted(self.history)
        names = sorted({k for e in epochs for m in self.history[e].values() for k in m},
                       key=lambda k: (k != "loss", k))   # the loss window first
        try:
            for name in names:
                splits = [s for s in SPLITS if any(name in self.history[e].get(s, {}) for e in epochs)]
                splits += sorted({s for e in epochs for s in self.history[e]} - set(SPLITS) - set(splits))
                xs = [e for e in epochs if all(name in self.history[e].get(s, {}) for s in splits)]
                if not xs or not splits:
                    continue
                y = np.array([[self.history[e][s][name] for s in splits] for e in xs], dtype=np.float64)
                x = np.array([[e] * len(splits) for e in xs], dtype=np.float64)
                self.vis.line(Y=y, X=x, win=name, env=self.env,
                              opts={"title": f"{name} — {self.title}", "legend": splits, "xlabel": "epoch",
                                    "ylabel": name, "markers": True, "markersize": 6,
                                    "xtickstep": max(1, math.ceil(len(xs) / 10))})   # whole epochs
        except Exception:
            self._warn("the server stopped answering")

    def end(self, summary):
        if self.vis is None:
            return
        pm = summary.get("primary_metric") or {}
        rows = "".join(f"<tr><td>{k}</td><td style='padding-left:1em'>{v:.4f}</td></tr>"
                       for k, v in summary.get("metrics", {}).items()
                       if isinstance(v, (int, float)))
        text = (f"<b>{self.title}</b><br>finished: best epoch {summary.get('best_epoch')} of "
                f"{summary.get('epochs')} (chosen on validation {pm.get('name', '')}); its test metrics:"
                f"<table>{rows}</table>wall time {summary.get('wall_seconds', 0):.1f} s")
        try:
            self.vis.text(text, win="summary", env=self.env)
            self.vis.save([self.env])   # the server keeps the env in its env_path after a restart
        except Exception:
            self._warn("the server stopped answering")
