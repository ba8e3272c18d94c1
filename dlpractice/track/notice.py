"""A word for the console when a step before or after training runs long: `with slow_step("loading fashion-mnist"):`
says "loading fashion-mnist …" once the step has taken `after` seconds, and "… done in 3.8 s" when it ends; a
step that ends sooner prints nothing. So no step of about 2 s or more passes in silence, and fast ones add no
noise."""
from __future__ import annotations

import sys
import threading
import time

AFTER_S = 2.0


class slow_step:
    def __init__(self, what: str, after: float | None = None, quiet: bool = False, stream=None):
        self.what, self.quiet, self.stream = what, quiet, stream
        self.after = AFTER_S if after is None else after
        self.said = False

    def _say(self) -> None:
        self.said = True
        print(f"{self.what} …", file=self.stream or sys.stdout, flush=True)

    def __enter__(self):
        self.start = time.perf_counter()
        self.timer = None
        if not self.quiet:
            self.timer = threading.Timer(self.after, self._say)
            self.timer.daemon = True
            self.timer.start()
        return self

    def __exit__(self, kind, err, tb):
        if self.timer is not None:
            self.timer.cancel()
            self.timer.join()
        if self.said and kind is None:
            print(f"… done in {time.perf_counter() - self.start:.1f} s", file=self.stream or sys.stdout, flush=True)
        return False
