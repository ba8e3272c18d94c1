"""Models: the registry and one file per family. Importing this registers every built-in model."""
from . import cnn, linear, rnn, tabular  # noqa: F401  (register the models)
from ._registry import MODELS, ModelSpec, build_model, count_params, register_model  # noqa: F401
