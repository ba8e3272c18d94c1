"""What the GAN sampling benchmarks share: the real test set's reference figures and one result line."""
from __future__ import annotations

from dlpractice.config import DataConfig
from dlpractice.data import load_dataset
from dlpractice.track.gan_score import Reference
from dlpractice.train.scorer import load_scorer
from dlpractice.train.adversarial import to_unit_range


def fashion_reference() -> Reference:
    """The score's classifier and Fashion-MNIST's test images, as `dlp lesson gan` scores against them."""
    data = load_dataset(DataConfig(dataset="fashion-mnist"), 28)
    ref = Reference(load_scorer(), to_unit_range(data.splits["test"].x, data.meta))
    print(f"real test set: Inception-style score {ref.inception_score:.3f}")
    return ref


def report(name: str, ref: Reference, images) -> None:
    """Score `images` and print FID, IS (and its ratio to the real test set's) and the smallest class."""
    s = ref.score(images)
    print(f"{name}: FID {s['fid']:.3f}  IS {s['inception_score']:.3f} "
          f"(ratio {s['inception_score'] / ref.inception_score:.3f})  smallest class {s['min_class_share']:.1%}",
          flush=True)
