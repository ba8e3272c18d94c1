"""Models: the registry and one file per family. Importing this registers every built-in model."""
from . import alexnet, cnn, course, dcgan, googlenet, linear, resnet, rnn, tabular, vgg  # noqa: F401  (register)
from ._registry import MODELS, ModelSpec, build_model, count_params, register_model  # noqa: F401
