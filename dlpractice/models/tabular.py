"""Models for rows of numbers (lectures 5–7): linear and logistic regression, and the tabular MLP.

Each takes `in_features` from the data's meta (the number of columns after preprocessing). Binary
models return one logit per row (BCE-with-logits in the binary task; probability = sigmoid(logit)),
multi-class models one logit per class, regression models the prediction itself.
"""
from __future__ import annotations

from torch import nn

from ..errors import UserError
from ._registry import MAX_SIZE, MAX_UNITS, check_count, check_counts, check_flag, check_fraction, register_model

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU,
               "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "silu": nn.SiLU}


@register_model("linear", "regression", "tabular",
                "linear regression y = x·wᵀ + b, nn.Linear(in_features, out_features) (lecture 5)")
def linear(in_features: int = 8, out_features: int = 1) -> nn.Module:
    check_count("model.args.in_features", in_features, 1, most=MAX_SIZE)
    check_count("model.args.out_features", out_features, 1, most=MAX_SIZE)
    return nn.Linear(in_features, out_features)


@register_model("logistic", "binary", "tabular",
                "logistic regression: nn.Linear(in_features, 1) → one logit, BCE-with-logits (lecture 6)")
def logistic(in_features: int = 8) -> nn.Module:
    check_count("model.args.in_features", in_features, 1, most=MAX_SIZE)
    return nn.Linear(in_features, 1)


def _mlp(in_features: int, out: int, hidden, activation: str, dropout: float, batch_norm: bool,
         input_dropout: float = 0.0) -> nn.Sequential:
    check_count("model.args.in_features", in_features, 1, most=MAX_SIZE)
    check_count("model.args.num_classes", out, 1, most=MAX_SIZE)
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise UserError(f"unknown activation {activation!r} in model.args; known: {', '.join(sorted(ACTIVATIONS))}")
    check_counts("model.args.hidden", hidden, 1, MAX_UNITS)
    check_fraction("model.args.dropout", dropout)
    check_flag("model.args.batch_norm", batch_norm)
    check_fraction("model.args.input_dropout", input_dropout)
    # dropout on the input features themselves (Srivastava et al. 2014 used 0.2 on inputs): each row is
    # seen with a random share of its features missing, against co-adapted features on wide tables (Otto)
    layers: list[nn.Module] = [nn.Dropout(input_dropout)] if input_dropout else []
    width = in_features
    for h in hidden:
        layers.append(nn.Linear(width, int(h)))
        if batch_norm:
            layers.append(nn.BatchNorm1d(int(h)))
        layers.append(ACTIVATIONS[activation]())
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = int(h)
    layers.append(nn.Linear(width, out))
    return nn.Sequential(*layers)


@register_model("tabular_mlp", "binary", "tabular",
                "MLP on table rows → one logit; hidden widths, activation (sigmoid for the course's "
                "8→6→4→1 of lecture 7), dropout")
def tabular_mlp(in_features: int = 8, hidden: list | tuple = (6, 4), activation: str = "sigmoid",
                dropout: float = 0.0, batch_norm: bool = False) -> nn.Module:
    return _mlp(in_features, 1, hidden, activation, dropout, batch_norm)


@register_model("tabular_classifier", "classification", "tabular",
                "MLP on table rows → one logit per class (softmax); hidden = [] is softmax regression")
def tabular_classifier(in_features: int = 8, num_classes: int = 2, hidden: list | tuple = (64, 32),
                       activation: str = "relu", dropout: float = 0.0, batch_norm: bool = False,
                       input_dropout: float = 0.0) -> nn.Module:
    return _mlp(in_features, num_classes, hidden, activation, dropout, batch_norm, input_dropout)
