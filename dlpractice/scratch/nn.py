"""Layers for the scratch engine with PyTorch's names: Module, Linear, ReLU, Sigmoid, Tanh, Sequential."""
from __future__ import annotations

import numpy as np

from .engine import Tensor


class Module:
    """Base class: finds its parameters in its attributes (tensors that require grad, sub-modules)."""

    def named_parameters(self, prefix: str = "") -> list[tuple[str, Tensor]]:
        """(dotted name, tensor) pairs in attribute order, like torch's named_parameters()."""
        found = []
        for name, value in vars(self).items():
            values = value if isinstance(value, (list, tuple)) else [value]
            for i, v in enumerate(values):
                key = f"{prefix}{name}" + (f".{i}" if values is value else "")
                if isinstance(v, Tensor) and v.requires_grad:
                    found.append((key, v))
                elif isinstance(v, Module):
                    found.extend(v.named_parameters(prefix=key + "."))
        return found

    def parameters(self) -> list[Tensor]:
        """Every trainable tensor, in a fixed order (optimizers rely on it)."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Forget all parameter gradients."""
        for p in self.parameters():
            p.grad = None

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, x) -> Tensor:
        return self.forward(x if isinstance(x, Tensor) else Tensor(x))


class Linear(Module):
    """y = x W^T + b with W of shape (out, in), initialised as torch.nn.Linear does.

    torch draws W and b from U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with a=sqrt(5) reduces
    to exactly this bound for the weight); `rng` makes the draw reproducible.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: np.random.Generator | None = None):
        rng = rng if rng is not None else np.random.default_rng()
        bound = 1.0 / np.sqrt(in_features)
        self.weight = Tensor(rng.uniform(-bound, bound, (out_features, in_features)), requires_grad=True)
        self.bias = Tensor(rng.uniform(-bound, bound, out_features), requires_grad=True) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        y = x @ self.weight.T  # (N, in) @ (in, out) -> (N, out)
        return y + self.bias if self.bias is not None else y

    def __repr__(self) -> str:
        out, inp = self.weight.shape
        return f"Linear(in_features={inp}, out_features={out}, bias={self.bias is not None})"


class ReLU(Module):
    """max(x, 0) elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return x.relu()


class Sigmoid(Module):
    """1 / (1 + e^-x) elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


class Tanh(Module):
    """tanh(x) elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class Sequential(Module):
    """Apply the given modules in order."""

    def __init__(self, *layers: Module):
        self.layers = list(layers)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"
