"""Training: the loop, tasks, optimizers and schedules, checkpoints, run folders."""
