"""Task kinds: loss, per-batch sums, final metrics, primary metric, and which training loop runs them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..registry import Registry


@dataclass
class Task:
    name: str
    loss: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]   # (logits, target, label_smoothing)
    stats: Callable[[torch.Tensor, torch.Tensor], dict]                   # additive sums for one batch
    finish: Callable[[dict], dict]                                        # sums → metrics
    primary: str                                                          # metric that picks the best epoch
    higher_is_better: bool
    probabilities: Callable[[torch.Tensor], torch.Tensor] | None = None   # logits → class probabilities
    # Metrics that need every output of a split at once (ROC-AUC is not a sum of per-batch parts):
    # evaluate() collects the split's outputs and targets and merges this dict into the metrics.
    full_metrics: Callable[[torch.Tensor, torch.Tensor], dict] | None = None
    # The training loop of `train.LOOPS` that runs this task: "supervised" (one model, one loss) or
    # "adversarial" (a GAN's two players and two optimizers).
    loop: str = "supervised"
    # What a model of this task does, in words for a learner (the serve page's subtitle): {what} is the input
    # kind's noun, {n} the class count, {first} / {second} a binary task's two classes.
    says: str = "answers for {what}"

    def better(self, new: dict, old: dict | None, on: str | None = None) -> bool:
        """Is split metrics `new` better than `old`? Metric `on` decides (default the primary; the loss is
        lower-better); on a tie (common for accuracy on small validation splits) the lower loss wins."""
        if old is None:
            return True
        on = on or self.primary
        a, b = new[on], old[on]
        if a != b:
            return a > b if on == self.primary and self.higher_is_better else a < b
        return new["loss"] < old["loss"]


TASKS: Registry[Task] = Registry("task")


def _ce(out, y, smoothing):
    if out.dim() == 3:   # an ensemble in training, (members, B, classes): the mean of the members' own losses
        return F.cross_entropy(out.flatten(0, 1).float(), y.repeat(len(out)), label_smoothing=smoothing)
    return F.cross_entropy(out.float(), y, label_smoothing=smoothing)


def _class_stats(out, y):
    if out.dim() == 3:   # an ensemble's training batch counts as right where the members' mean probability is
        out = out.float().softmax(-1).mean(0)
    return {"correct": float((out.argmax(1) == y).sum())}


def _class_finish(s):
    return {"loss": s["loss"] / s["n"], "accuracy": s["correct"] / s["n"]}


TASKS.add("classification", Task("classification", _ce, _class_stats, _class_finish, "accuracy", True,
                                  lambda out: out.float().softmax(-1), says="sorts {what} into {n} classes"))
# Names → country and other sequence classifiers share the classification metrics.
TASKS.add("sequence_classification", Task("sequence_classification", _ce, _class_stats, _class_finish,
                                          "accuracy", True, lambda out: out.float().softmax(-1),
                                          says="sorts {what} into {n} classes"))


def _bce(out, y, smoothing):
    target = y.float().view_as(out)
    if smoothing:
        target = target * (1 - smoothing) + 0.5 * smoothing
    return F.binary_cross_entropy_with_logits(out.float(), target)  # stable log-sum-exp form


def _binary_stats(out, y):
    return {"correct": float(((out.view(-1) > 0).long() == y.view(-1).long()).sum())}


def roc_auc(scores: torch.Tensor, y: torch.Tensor) -> float | None:
    """Area under the ROC curve: the chance that a random positive scores above a random negative
    (ties count one half), by the rank-sum (Mann–Whitney) formula. None when a class is absent."""
    s = scores.detach().double().reshape(-1).cpu()
    pos = y.reshape(-1).cpu() == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = torch.argsort(s)
    sorted_s = s[order]
    ranks = torch.empty_like(s)
    # 1-based ranks, averaged over tied scores
    _, inverse, counts = torch.unique_consecutive(sorted_s, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    mean_rank = ends - (counts.double() - 1) / 2
    ranks[order] = mean_rank[inverse]
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _binary_full(out, y):
    auc = roc_auc(out.float(), y)
    return {} if auc is None else {"roc_auc": auc}


TASKS.add("binary", Task("binary", _bce, _binary_stats, _class_finish, "accuracy", True,
                         lambda out: torch.cat([1 - out.float().sigmoid(), out.float().sigmoid()], -1),
                         full_metrics=_binary_full, says="tells {second} from {first} for {what}"))


def _mse(out, y, smoothing):
    return F.mse_loss(out.float(), y.float().view_as(out))


def _reg_stats(out, y):
    return {"abs_err": float((out.float() - y.float().view_as(out)).abs().sum())}


def _reg_finish(s):
    return {"loss": s["loss"] / s["n"], "mse": s["loss"] / s["n"], "mae": s["abs_err"] / s["n"]}


TASKS.add("regression", Task("regression", _mse, _reg_stats, _reg_finish, "mse", False,
                             says="predicts a number from {what}"))


def _no_supervised_loss(*args):
    raise TypeError("a generation task has no supervised loss: its loop (train/adversarial.py) holds the players' losses")


# A GAN: the generator's images are scored (FID on validation images picks the best epoch); it predicts nothing.
TASKS.add("generation", Task("generation", _no_supervised_loss, _no_supervised_loss, _no_supervised_loss, "fid",
                              False, loop="adversarial", says="draws new images like its training set's"))


def batch_sums(task: Task, out: torch.Tensor, y: torch.Tensor, loss: torch.Tensor) -> dict:
    """The additive sums of one batch: example count, summed loss, task-specific sums."""
    n = len(y)
    return {"n": float(n), "loss": float(loss.detach()) * n, **task.stats(out.detach(), y)}


def add_sums(total: dict, new: dict) -> dict:
    for k, v in new.items():
        total[k] = total.get(k, 0.0) + v
    return total
