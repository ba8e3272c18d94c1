"""Input kinds: what a user gives a run's model (image files, CSV rows, raw competition rows, names, noise)
and how it becomes a model batch — one module per kind, each registering one `InputKind`.

A run's data meta names its kind (`meta["input"]`). The kind gives, in one place:
- `read(meta, inputs)`: `dlp predict`'s arguments (paths, strings) → (x, labels), where `labels`
  names each row of the batch for printing (a file name, a row number, the name itself);
- `http(meta, payload, limits)`: a `POST /predict` body (`inputs.http.Payload`) → (x, labels), with
  `how` (one line on what the body holds) and `body` (its OpenAPI request content: a dict, or
  `fn(meta, limits) -> dict` when the schema states the served limits);
- `describe(meta)`: what `GET /model` says of the input (its shape and kind-specific fields);
- `example(dims, n, generator)`: a small batch of the right shape and dtype (export tracing, model
  tests), `dims` holding the run's meta or a model's arguments;
- `axes`: the dynamic axes of an exported model's input;
- `takes`: what `dlp predict` is given for it ("image files", "a CSV with --csv", ...).
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..registry import Registry

Batch = tuple[torch.Tensor, list[str]]


@dataclass
class InputKind:
    name: str
    read: Callable[[dict, list[str]], Batch]
    example: Callable[..., torch.Tensor]
    http: Callable[[dict, Any, Any], Batch] | None = None   # None: not served over HTTP
    how: str = ""
    body: dict | Callable[[dict, Any], dict] = field(default_factory=dict)
    describe: Callable[[dict], dict] = lambda meta: {}
    axes: dict = field(default_factory=lambda: {0: "batch"})
    takes: str = "a CSV with --csv"   # what `dlp predict` takes for this kind, in its error lines
    noun: Callable[[dict], str] = lambda meta: "inputs"   # what the model reads, in words: "28×28 grey images"

    def __call__(self, meta: dict, inputs: list[str]) -> Batch:
        return self.read(meta, inputs)


INPUT_KINDS: Registry[InputKind] = Registry("input kind")


def register_input(kind: InputKind) -> InputKind:
    INPUT_KINDS.add(kind.name, kind)
    return kind


def prepare(meta: dict, inputs: list[str]) -> Batch:
    """User inputs → (batch, labels), by the reader of the run's input kind."""
    return INPUT_KINDS.get(meta["input"]).read(meta, inputs)


def example_batch(input: str, dims: dict | None = None, n: int = 2) -> torch.Tensor:
    """A tiny random input of kind `input` (seeded), for registry-driven tests and tracing."""
    return INPUT_KINDS.get(input).example(dims or {}, n, torch.Generator().manual_seed(0))


def _register_all() -> None:
    """Import every module of this package: one module per kind, each registering its InputKind (a new
    kind is one new module here)."""
    for module in pkgutil.iter_modules(__path__):
        if module.name != "http" and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


_register_all()
