"""How good a GAN's images are: Fréchet distance, Inception-style score and class shares on a fixed classifier.

The classifier is not Inception-v3 (trained on ImageNet photos, and a download) but a Fashion-MNIST
network trained once by `lessons/gan_scorer.toml` (`train/scorer.py`) and kept in the user cache, so the figures are
"domain" versions (Heusel et al. 2017 FID; Salimans et al. 2016 IS) comparable across runs that share
the recipe, not with published Inception numbers. Every figure is also computed for real test images.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import UserError

# -- the fixed classifier --------------------------------------------------------------------------
class Scorer:
    """A trained classifier read from its run folder: penultimate features and p(y|x) of images in [-1, 1]."""

    def __init__(self, folder: Path):
        from ..runs.folder import Run
        run = Run(folder)
        ck = run.checkpoint("best")
        self.folder, self.meta, self.accuracy = Path(folder), ck["data_meta"], run.summary.get("test_accuracy")
        self.model = run.model()
        last = [m for m in self.model.modules() if isinstance(m, nn.Linear)]
        if not last:
            raise UserError(f"the score's classifier {ck['model_name']} has no final linear layer to take "
                            "features from; use a model that ends in nn.Linear in lessons/gan_scorer.toml")
        # The features are what enters the last linear layer (LeNet-BN: 84 values after BN + ReLU);
        # a hook reads them without changing the model's output.
        last[-1].register_forward_pre_hook(lambda mod, args: setattr(self, "_features", args[0]))

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """images (N, C, H, W) in [-1, 1] → features (N, F) and class probabilities (N, K), float64."""
        size = self.meta["size"]
        if images.shape[-1] != size:
            raise UserError(f"the score's classifier takes {size}×{size} images, got {tuple(images.shape[-2:])}")
        feats, probs = [], []
        for i in range(0, len(images), batch):
            x = ((images[i:i + batch].float().cpu() + 1) / 2 - self.meta["mean"]) / self.meta["std"]
            probs.append(self.model(x).softmax(-1).double())
            feats.append(self._features.double())
        return torch.cat(feats).numpy(), torch.cat(probs).numpy()


# -- the figures -----------------------------------------------------------------------------------
def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (F,) and covariance (F, F) of features (N, F)."""
    return features.mean(0), np.cov(features, rowvar=False)


def frechet(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """Fréchet distance of two Gaussians: |μa − μb|² + tr(Σa + Σb − 2 (Σa Σb)^½) (Heusel et al. 2017).
    tr (Σa Σb)^½ = tr (Σa^½ Σb Σa^½)^½, a symmetric matrix, so two eigendecompositions are exact and stable."""
    (ma, sa), (mb, sb) = a, b
    w, v = np.linalg.eigh(sa)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root @ sb @ root
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((ma - mb) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * tr_sqrt)


def inception_score(probs: np.ndarray) -> float:
    """exp(mean over samples of KL(p(y|x) ‖ p(y))) on the whole set at once (no splits); between 1 (every
    image the same class distribution) and the number of classes (confident, classes evenly used)."""
    p = np.clip(probs, 1e-12, 1.0)
    marginal = p.mean(0, keepdims=True)
    return float(math.exp((p * (np.log(p) - np.log(marginal))).sum(1).mean()))


def class_shares(probs: np.ndarray) -> np.ndarray:
    """The share of samples the classifier assigns to each class (argmax): missing classes show mode collapse."""
    return np.bincount(probs.argmax(1), minlength=probs.shape[1]) / len(probs)


class Reference:
    """Real images' statistics, computed once: the targets of the FIDs and the real-data figures beside them."""

    def __init__(self, scorer: Scorer, test: torch.Tensor, val: torch.Tensor | None = None):
        self.scorer = scorer
        feats, probs = scorer(test)
        self.test = gaussian(feats)
        self.val = gaussian(scorer(val)[0]) if val is not None and len(val) > 1 else None
        # Two halves of the test set, split by a fixed permutation: the FID that real data itself reaches
        # at this sample size (the floor a generator is measured against).
        perm = torch.randperm(len(test), generator=torch.Generator().manual_seed(0)).numpy()
        half = len(test) // 2
        self.fid_halves = frechet(gaussian(feats[perm[:half]]), gaussian(feats[perm[half:]]))
        self.inception_score = inception_score(probs)
        self.shares = class_shares(probs)

    def score(self, images: torch.Tensor) -> dict:
        """FID to the test (and validation) images, Inception-style score and class shares of `images`."""
        feats, probs = self.scorer(images)
        g = gaussian(feats)
        shares = class_shares(probs)
        out = {"fid": frechet(g, self.test), "inception_score": inception_score(probs),
               "min_class_share": float(shares.min()), "shares": shares}
        if self.val is not None:
            out["fid_val"] = frechet(g, self.val)
        return out


# -- pictures --------------------------------------------------------------------------------------
def save_grid(images: torch.Tensor, path: Path, scale: int = 2) -> Path:
    """A square-ish grid PNG of images (N, C, H, W) in [-1, 1], 2-pixel gaps, each pixel `scale`× wide."""
    from PIL import Image
    n, c, h, w = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = torch.zeros(c, rows * (h + 2) + 2, cols * (w + 2) + 2)
    for i, img in enumerate(images.detach().float().cpu()):
        r, q = divmod(i, cols)
        grid[:, 2 + r * (h + 2):2 + r * (h + 2) + h, 2 + q * (w + 2):2 + q * (w + 2) + w] = (img.clamp(-1, 1) + 1) / 2
    arr = (grid * 255).round().byte().permute(1, 2, 0).numpy()
    pic = Image.fromarray(arr[..., 0] if c == 1 else arr)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pic.resize((pic.width * scale, pic.height * scale), Image.NEAREST).save(path)
    return path


def plot_gan_curves(folder: Path, title: str, best_epoch: int | None = None) -> Path:
    """`curves.png` of a GAN run: both players' losses; FID per epoch with the real halves' FID beside
    it; the Inception-style score with the real test set's."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..runs.metrics import read_metrics
    from .plots import epoch_axis, grad_norm_panel, save_curves, train_settings
    rows = read_metrics(folder)

    def series(split, key):
        return [(r["epoch"], r[key]) for r in rows if r["split"] == split and r.get(key) is not None]

    norms = any(r.get("grad_norm_d_mean") is not None for r in rows)   # runs from before it was logged have none
    fig, axes = plt.subplots(1, 3 + norms, figsize=(5 * (3 + norms), 3.8))
    panels = [("losses", [("train", "loss_d", "D loss", "tab:red"), ("train", "loss_g", "G loss", "tab:blue")], None),
              ("Fréchet distance (lower is better)", [("test", "fid", "generated vs test", "tab:green"),
                                                      ("val", "fid", "generated vs validation", "tab:orange")],
               ("fid_real_halves", "test half vs half")),
              ("Inception-style score (max 10)", [("test", "inception_score", "generated", "tab:green")],
               ("inception_score_real", "real test set"))]
    for ax, (name, lines, ref) in zip(axes, panels):
        for split, key, label, color in lines:
            pts = series(split, key)
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=3, color=color, label=label)
        if ref and series("test", ref[0]):
            ax.axhline(series("test", ref[0])[-1][1], color="black", ls="--", lw=1, label=ref[1])
        if best_epoch:
            ax.axvline(best_epoch, color="gray", lw=0.8, ls="-.", label=f"best (val FID) epoch {best_epoch}")
        epoch_axis(ax)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if norms:
        grad_norm_panel(axes[3], rows, train_settings(folder).get("grad_clip", 0), best_epoch,
                        (("d", "D", "tab:red"), ("g", "G", "tab:blue")))
    return save_curves(fig, folder, title)


def plot_class_shares(path: Path, classes: list[str], generated: np.ndarray, real: np.ndarray) -> Path:
    """`classes.png`: the share of each class the classifier sees in generated and real test images."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 3.8))
    x = np.arange(len(classes))
    ax.bar(x - 0.2, real, 0.4, label="real test set", color="tab:gray")
    ax.bar(x + 0.2, generated, 0.4, label="generated", color="tab:green")
    ax.axhline(0.04, color="tab:red", ls="--", lw=1, label="4%")
    ax.set_xticks(x, classes, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("share of samples")
    ax.set_title("classes the score's classifier assigns")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
