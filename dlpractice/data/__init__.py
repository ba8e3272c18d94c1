"""Data sets: registry, loaders and sources. Importing this registers every built-in data set."""
from . import vision  # noqa: F401  (registers digits, fashion-mnist)
from . import mnist  # noqa: F401  (registers mnist, downloaded with sha256 checks)
from . import tabular  # noqa: F401  (registers csv, diabetes, breast-cancer, course-linear, course-logistic)
from . import text  # noqa: F401  (registers names, names-tutorial, text-csv)
from . import imagefolder  # noqa: F401  (registers image-folder: your own pictures)
from . import kaggle  # noqa: F401  (registers titanic, otto and the tabular-derived input kind)
from .registry import DATASETS, DataBundle, Split, load_dataset, register_dataset  # noqa: F401
