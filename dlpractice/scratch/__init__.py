"""A numpy autograd engine written from scratch for lectures 1-4 (Tensor, nn, optim, losses, graph)."""
from . import losses, nn, optim
from .engine import Tensor, is_grad_enabled, no_grad
from .graph import dot, graph, render

__all__ = ["Tensor", "no_grad", "is_grad_enabled", "nn", "optim", "losses", "graph", "dot", "render"]
