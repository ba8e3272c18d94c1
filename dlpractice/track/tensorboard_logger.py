"""TensorBoard event files in the run folder: scalars `<metric>/<split>` and `lr` per epoch, the config as text.

`dlp board --tensorboard` (TensorBoard on the runs folder) then lists each run folder as one run.
"""
from __future__ import annotations

from .loggers import Logger


class TensorBoardLogger(Logger):
    def start(self, folder, info, first_epoch):
        from torch.utils.tensorboard import SummaryWriter
        # purge_step hides the events of epochs a resumed run redoes, like the CSV drops their rows
        self.writer = SummaryWriter(log_dir=str(folder), purge_step=first_epoch if first_epoch > 1 else None,
                                    flush_secs=5)
        if first_epoch == 1 and (folder / "config.toml").exists():
            text = (folder / "config.toml").read_text(encoding="utf-8")
            self.writer.add_text("config", "```\n" + text + "\n```", 0)

    def epoch(self, epoch, metrics, lr, seconds, timing=None):
        for split, m in metrics.items():
            for name, value in m.items():
                self.writer.add_scalar(f"{name}/{split}", float(value), epoch)
        self.writer.add_scalar("lr", lr, epoch)
        self.writer.add_scalar("seconds_per_epoch", seconds, epoch)
        self.writer.flush()   # a dashboard watching this run sees the epoch at once

    def end(self, summary):
        for name, value in (summary.get("metrics") or {}).items():
            if isinstance(value, (int, float)):
                self.writer.add_scalar(f"best_checkpoint_test/{name}", float(value), summary.get("best_epoch", 0))
        self.writer.close()
