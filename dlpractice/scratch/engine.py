"""A small reverse-mode autograd engine over numpy arrays (micrograd, but with tensors)."""
from __future__ import annotations

import functools

import numpy as np

# Graph recording is switched off inside `no_grad()`; a module-level flag like torch's grad mode.
_grad_enabled = True


class no_grad:
    """Context manager (and decorator) that stops recording the graph, like torch.no_grad."""

    def __enter__(self):
        global _grad_enabled
        self._prev, _grad_enabled = _grad_enabled, False

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)
        return wrapped


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()`."""
    return _grad_enabled


def _unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum `grad` back down to `shape`, undoing numpy broadcasting.

    If y = broadcast(x), each element of x was copied into several elements of y, so by the
    chain rule dL/dx is the sum of dL/dy over those copies: sum over the leading axes numpy
    added, and over the axes where x had size 1.
    """
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class Tensor:
    """An ndarray (`data`, float64 by default) with a gradient (`grad`) and the op that made it."""

    # Make numpy hand `ndarray + Tensor` over to Tensor.__radd__ instead of looping elementwise.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad: bool = False, dtype=np.float64, name: str = "",
                 _children: tuple = (), _op: str = ""):
        if isinstance(data, Tensor):
            data = data.data
        self.data = np.asarray(data, dtype=dtype)
        self.grad: np.ndarray | None = None
        self.requires_grad = requires_grad
        self.name = name
        self._backward = lambda: None
        self._prev = _children
        self._op = _op

    # ---- graph bookkeeping -------------------------------------------------------------
    def _make(self, data, children: tuple, op: str) -> tuple[Tensor, bool]:
        """Result tensor of an op; it joins the graph only if a child needs a gradient."""
        track = _grad_enabled and any(c.requires_grad for c in children)
        out = Tensor(data, requires_grad=track, dtype=None,
                     _children=children if track else (), _op=op if track else "")
        return out, track

    def _accumulate(self, g: np.ndarray) -> None:
        """Add an incoming gradient (already shaped like the op's output) into self.grad."""
        if not self.requires_grad:
            return
        g = _unbroadcast(np.asarray(g, dtype=self.data.dtype), self.data.shape)
        self.grad = g.copy() if self.grad is None else self.grad + g

    def _lift(self, x) -> Tensor:
        """Wrap a number or array as a constant of this tensor's dtype."""
        return x if isinstance(x, Tensor) else Tensor(x, dtype=self.data.dtype)

    def _topo(self) -> list[Tensor]:
        """Every tensor this one depends on, each after its inputs (left operand first).

        Iterative depth-first search, so long graphs cannot hit Python's recursion limit.
        """
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((c, False) for c in reversed(node._prev))
        return order

    def backward(self, grad=None) -> None:
        """Fill `.grad` of every tensor this one depends on; leaf gradients accumulate."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            grad = np.ones_like(self.data)
        topo = self._topo()
        # Interior gradients are per pass; only leaves accumulate across backward() calls (torch's rule).
        for node in topo:
            if node._prev:
                node.grad = None
        self._accumulate(np.broadcast_to(grad, self.data.shape))
        for node in reversed(topo):
            if node.grad is not None:
                node._backward()

    def zero_grad(self) -> None:
        """Forget the gradient (torch's set_to_none behaviour)."""
        self.grad = None

    def detach(self) -> Tensor:
        """Same data, cut from the graph."""
        return Tensor(self.data, dtype=self.data.dtype)

    # ---- basic ops: each carries its local gradient rule -------------------------------
    def __add__(self, other) -> Tensor:
        other = self._lift(other)
        out, track = self._make(self.data + other.data, (self, other), "add")
        if track:
            def _backward():
                self._accumulate(out.grad)
                other._accumulate(out.grad)
            out._backward = _backward
        return out

    def __mul__(self, other) -> Tensor:
        other = self._lift(other)
        out, track = self._make(self.data * other.data, (self, other), "mul")
        if track:
            def _backward():
                self._accumulate(out.grad * other.data)
                other._accumulate(out.grad * self.data)
            out._backward = _backward
        return out

    def __pow__(self, other) -> Tensor:
        other = self._lift(other)
        out, track = self._make(self.data ** other.data, (self, other), "pow")
        if track:
            def _backward():
                # d(x^p)/dx = p x^(p-1);  d(x^p)/dp = x^p log x (only asked for when p needs it)
                if self.requires_grad:
                    self._accumulate(out.grad * other.data * self.data ** (other.data - 1))
                if other.requires_grad:
                    other._accumulate(out.grad * out.data * np.log(self.data))
            out._backward = _backward
        return out

    def __matmul__(self, other) -> Tensor:
        other = self._lift(other)
        out, track = self._make(self.data @ other.data, (self, other), "matmul")
        if track:
            def _backward():
                # Treat 1-D operands as a row (left) / column (right) matrix, as np.matmul does.
                a = self.data if self.data.ndim > 1 else self.data[None, :]
                b = other.data if other.data.ndim > 1 else other.data[:, None]
                g = out.grad
                if other.data.ndim == 1:
                    g = g[..., None]
                if self.data.ndim == 1:
                    g = g[..., None, :]
                # C = A B  =>  dL/dA = dL/dC B^T,  dL/dB = A^T dL/dC (batch axes summed by unbroadcast)
                ga = _unbroadcast(g @ np.swapaxes(b, -1, -2), a.shape)
                gb = _unbroadcast(np.swapaxes(a, -1, -2) @ g, b.shape)
                self._accumulate(ga.reshape(self.data.shape))
                other._accumulate(gb.reshape(other.data.shape))
            out._backward = _backward
        return out

    def sum(self, axis=None, keepdims: bool = False) -> Tensor:
        """Sum over `axis` (int, tuple or None for all)."""
        out, track = self._make(self.data.sum(axis=axis, keepdims=keepdims), (self,), "sum")
        if track:
            def _backward():
                # Every summed element gets the output's gradient: restore the reduced axes, then copy.
                g = out.grad
                if not keepdims and axis is not None:
                    axes = (axis,) if np.isscalar(axis) else axis
                    g = np.expand_dims(g, tuple(a % self.data.ndim for a in axes))
                self._accumulate(np.broadcast_to(g, self.data.shape))
            out._backward = _backward
        return out

    def _unary(self, data, op: str, local_grad) -> Tensor:
        """An elementwise op whose derivative `local_grad(out)` is multiplied by the output grad."""
        out, track = self._make(data, (self,), op)
        if track:
            out._backward = lambda: self._accumulate(out.grad * local_grad(out.data))
        return out

    def exp(self) -> Tensor:
        return self._unary(np.exp(self.data), "exp", lambda y: y)

    def log(self) -> Tensor:
        return self._unary(np.log(self.data), "log", lambda y: 1.0 / self.data)

    def relu(self) -> Tensor:
        return self._unary(np.maximum(self.data, 0), "relu", lambda y: (self.data > 0).astype(y.dtype))

    def sigmoid(self) -> Tensor:
        # 1/(1+e^-x) written as e^(-log(1+e^-x)) so large |x| neither overflows nor warns.
        y = np.exp(-np.logaddexp(0, -self.data))
        return self._unary(y, "sigmoid", lambda y: y * (1 - y))

    def tanh(self) -> Tensor:
        return self._unary(np.tanh(self.data), "tanh", lambda y: 1 - y * y)

    def reshape(self, *shape) -> Tensor:
        """View with a new shape (numpy rules, -1 allowed)."""
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        out, track = self._make(self.data.reshape(shape), (self,), "reshape")
        if track:
            out._backward = lambda: self._accumulate(out.grad.reshape(self.data.shape))
        return out

    def transpose(self, *axes) -> Tensor:
        """Permute axes (numpy rules: no argument reverses them)."""
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        axes = tuple(axes) or tuple(reversed(range(self.data.ndim)))
        out, track = self._make(self.data.transpose(axes), (self,), "transpose")
        if track:
            # The inverse permutation sends each output axis back to where it came from.
            out._backward = lambda: self._accumulate(out.grad.transpose(np.argsort(axes)))
        return out

    def __getitem__(self, idx) -> Tensor:
        idx = idx.data.astype(np.intp) if isinstance(idx, Tensor) else idx
        out, track = self._make(self.data[idx], (self,), "getitem")
        if track:
            def _backward():
                # np.add.at, not g[idx] = ..., so an element picked twice gets both contributions.
                g = np.zeros_like(self.data)
                np.add.at(g, idx, out.grad)
                self._accumulate(g)
            out._backward = _backward
        return out

    # ---- derived ops: built from the basic ones, so they need no gradient rule ------------
    def __neg__(self): return self * -1.0
    def __sub__(self, other): return self + (-self._lift(other))
    def __rsub__(self, other): return self._lift(other) + (-self)
    def __radd__(self, other): return self + other
    def __rmul__(self, other): return self * other
    def __truediv__(self, other): return self * self._lift(other) ** -1.0
    def __rtruediv__(self, other): return self._lift(other) * self ** -1.0
    def __rpow__(self, other): return self._lift(other) ** self
    def __rmatmul__(self, other): return self._lift(other) @ self

    def mean(self, axis=None, keepdims: bool = False) -> Tensor:
        """Mean over `axis`: a sum scaled by 1/count."""
        total = self.sum(axis=axis, keepdims=keepdims)
        return total * (total.data.size / self.data.size)

    def abs(self) -> Tensor:
        """|x| = relu(x) + relu(-x) (gradient 0 at 0, like torch)."""
        return self.relu() + (-self).relu()

    @property
    def T(self) -> Tensor:
        return self.transpose()

    # ---- conveniences -------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def item(self) -> float:
        return self.data.item()

    def numpy(self) -> np.ndarray:
        return self.data

    def __repr__(self) -> str:
        extra = f", op={self._op}" if self._op else (", requires_grad=True" if self.requires_grad else "")
        return f"Tensor({np.array2string(self.data, precision=4, threshold=8)}{extra})"
