"""Input kinds for prediction: turn what a user gives (image files, CSV rows, names) into a model batch.

Each data input kind (`meta["input"]`: image, tabular, sequence) registers one converter
`fn(meta: dict, inputs: list[str]) -> (x: Tensor, labels: list[str])`, where `labels` names each row
of the batch for printing (a file name, a row number, the name itself).
"""
from __future__ import annotations

from typing import Callable

import torch

from ..registry import Registry

Converter = Callable[[dict, list[str]], tuple[torch.Tensor, list[str]]]
INPUT_KINDS: Registry[Converter] = Registry("input kind")


def register_input(kind: str):
    def deco(fn: Converter) -> Converter:
        INPUT_KINDS.add(kind, fn)
        return fn
    return deco
