"""Data sets: registry, loaders and sources. Importing this registers every built-in data set."""
from . import vision  # noqa: F401  (registers digits, fashion-mnist)
from .registry import DATASETS, DataBundle, Split, load_dataset, register_dataset  # noqa: F401
