"""Data sets: registry, loaders and sources.

The built-in data sets register themselves when a registry name (`DATASETS`, `load_dataset`, ...) is
first taken from this package, so that `data.fetch` and `data.paths` (which the CLI reads to build its
parser) load without torch.
"""
_REGISTRY_NAMES = {"DATASETS", "DataBundle", "Split", "load_dataset", "register_dataset"}


def __getattr__(name: str):
    if name in _REGISTRY_NAMES:
        from . import vision  # noqa: F401  (registers digits, fashion-mnist)
        from . import mnist  # noqa: F401  (registers mnist, downloaded with sha256 checks)
        from . import tabular  # noqa: F401  (registers csv, diabetes, breast-cancer, course-linear, course-logistic)
        from . import text  # noqa: F401  (registers names, names-tutorial, text-csv)
        from . import imagefolder  # noqa: F401  (registers image-folder: your own pictures)
        from . import kaggle  # noqa: F401  (registers otto)
        from . import titanic  # noqa: F401  (registers titanic)
        from . import registry
        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
