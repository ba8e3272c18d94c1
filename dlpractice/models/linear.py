"""Linear models and multi-layer perceptrons: softmax regression and the MLP."""
from __future__ import annotations

from torch import nn

from ._registry import MAX_UNITS, check_counts, check_fraction, check_image, register_model


@register_model("softmax", "classification", "image",
                "softmax regression: flatten → one linear layer (lecture 9)", input_size=28)
def softmax(num_classes: int = 10, in_channels: int = 1, input_size: int = 28) -> nn.Module:
    check_image(num_classes, in_channels, input_size)
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * input_size * input_size, num_classes))


@register_model("mlp", "classification", "image",
                "multi-layer perceptron on flattened images, ReLU, dropout (lecture 9)", input_size=28)
def mlp(num_classes: int = 10, in_channels: int = 1, input_size: int = 28,
        hidden: list | tuple = (512, 256), dropout: float = 0.2) -> nn.Module:
    check_image(num_classes, in_channels, input_size)
    check_counts("model.args.hidden", hidden, 1, MAX_UNITS)
    check_fraction("model.args.dropout", dropout)
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_channels * input_size * input_size
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
