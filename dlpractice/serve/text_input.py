"""Prediction input for sequence runs: strings (names) → padded character ids, by the run's saved vocabulary.

`dlp predict RUN --text Nakamura Müller O'Neill` encodes each string exactly as training did
(`dlpractice.data.text.Vocab`: NFKD, combining marks stripped, the run's unknown-character policy) and
prints the top classes. `interactive(predictor)` reads one string per line from stdin until an empty
line or end of input and prints the top classes of each.
"""
from __future__ import annotations

import sys

import torch

from ..data.text import Vocab
from ..errors import UserError
from .inputs import register_input


def vocab_of(meta: dict) -> Vocab:
    state = meta.get("text")
    if not state or "chars" not in state:
        raise UserError("this run's data has no saved vocabulary (meta['text']); retrain it with a text data "
                        "set (names, names-tutorial, text-csv)")
    return Vocab.from_meta(state)


@register_input("sequence")
def strings(meta: dict, inputs: list[str]) -> tuple[torch.Tensor, list[str]]:
    if not inputs:
        raise UserError("give one or more strings to classify, e.g. dlp predict RUN --text Nakamura Müller")
    vocab = vocab_of(meta)
    where = (lambda i: f" (input {i + 1})") if len(inputs) > 1 else None
    return vocab.encode(list(inputs), where), list(inputs)


def format_top(result: dict) -> str:
    return f"{result['input']}: " + ", ".join(f"{c['class']} {c['probability']:.3f}" for c in result["top"])


def interactive(predictor, stdin=None, stdout=None, top: int = 3) -> int:
    """Read strings line by line until an empty line or EOF; print the top classes of each.
    A line the model cannot take (e.g. only unknown characters under the policy "error") prints the
    reason and the prompt continues. Returns how many strings were classified."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    tty = hasattr(stdin, "isatty") and stdin.isatty()
    n = 0
    if tty:
        print("type a name and press Enter (an empty line ends)", file=stdout, flush=True)
    while True:
        if tty:
            print("> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line or not line.strip():
            return n
        text = line.rstrip("\r\n")
        try:
            (result,) = predictor.predict([text], top=top)
        except UserError as e:
            print(f"error: {e}", file=stdout, flush=True)
            continue
        print(format_top(result), file=stdout, flush=True)
        n += 1
