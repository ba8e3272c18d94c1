"""The sequence input kind: strings (names) → padded character ids, by the run's saved vocabulary.

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
from . import InputKind, register_input
from .http import HTTPError, Limits, Payload, items, items_schema, need_json


def vocab_of(meta: dict) -> Vocab:
    state = meta.get("text")
    if not state or "chars" not in state:
        raise UserError("this run's data has no saved vocabulary (meta['text']); retrain it with a text data "
                        "set (names, names-tutorial, text-csv)")
    return Vocab.from_meta(state)


def strings(meta: dict, inputs: list[str]) -> tuple[torch.Tensor, list[str]]:
    if not inputs:
        raise UserError("give one or more strings to classify, e.g. dlp predict RUN --text Nakamura Müller")
    vocab = vocab_of(meta)
    where = (lambda i: f" (input {i + 1})") if len(inputs) > 1 else None
    return vocab.encode(list(inputs), where), list(inputs)


HOW = 'a JSON list of strings, e.g. ["Nakamura", "Müller"]'


def read_strings(meta: dict, payload: Payload, limits: Limits) -> tuple[torch.Tensor, list[str]]:
    """A /predict body of strings → ids. Each string is at most `max_chars` characters as sent and as the
    model sees it (after the vocabulary's NFKD, which expands U+FDFA into 18 characters), and all of them
    together at most `max_total_chars` normalised characters: a GRU step per character."""
    texts = items(need_json(payload, "sequence", HOW), "strings", limits, "texts")
    vocab, total = vocab_of(meta), 0
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise HTTPError(422, f"item {i + 1} is a {type(t).__name__}, not a string: send a list of strings")
        if len(t) > limits.max_chars:
            raise HTTPError(413, f"string {i + 1} has {len(t)} characters; at most {limits.max_chars}")
    where = (lambda i: f" (input {i + 1})") if len(texts) > 1 else (lambda i: "")
    for i, t in enumerate(texts):
        n = len(vocab.normalize(t, where(i)))
        if n > limits.max_chars:
            raise HTTPError(413, f"string {i + 1} has {n} characters after Unicode normalisation (NFKD); at most "
                                 f"{limits.max_chars}")
        total += n
        if total > limits.max_total_chars:
            raise HTTPError(413, f"the strings hold over {limits.max_total_chars:,} characters together (after "
                                 f"Unicode normalisation, at string {i + 1}): split the request")
        if i % 32 == 31:
            payload.check_time(f"{i + 1} strings")
    payload.check_time(f"{len(texts)} strings")
    return strings(meta, texts)


def body(meta: dict, limits: Limits) -> dict:
    """POST /predict's request content: 1 … max_items strings of 1 … max_chars characters (a string that is
    only whitespace, or longer than max_chars once normalised, is still a 422 / 413)."""
    text = {"type": "string", "minLength": 1, "maxLength": limits.max_chars}
    return {"application/json": {"schema": items_schema(text, limits, "texts")}}


def describe(meta: dict) -> dict:
    return {"input_shape": ["length"],
            "text": {"max_length": meta["text"].get("max_length", 0), "unknown": meta["text"].get("unknown")}}


def example(dims: dict, n: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, 7) character ids ≥ 2 (30 ids when `dims` has no vocab_size); rows 2 and 3 are padded with 0
    after 4 and 2 characters, so a batch holds different lengths as real batches do."""
    x = torch.randint(2, int(dims.get("vocab_size", 30)), (n, 7), generator=generator)
    if n > 1:
        x[1, 4:] = 0
    if n > 2:
        x[2, 2:] = 0
    return x


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


def noun(meta: dict) -> str:
    longest = (meta.get("text") or {}).get("max_length", 0)
    return "texts read character by character" + (f" (up to {longest} characters)" if longest else "")


register_input(InputKind("sequence", strings, example, read_strings, HOW, body=body, describe=describe,
                         axes={0: "batch", 1: "length"}, takes="names with --text (or --interactive)", noun=noun))
