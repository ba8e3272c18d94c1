"""What `dlp models` and `dlp datasets` list, kept in catalogue.json beside this file so that a listing answers
in a fraction of a second: the registries it comes from import torch and scikit-learn (1.4–4 s), and the
parameter counts build every model. The registries stay the truth: `make catalogue` (`python -m
dlpractice.cli.catalogue`) rewrites the file from them, and tests/cli/test_catalogue.py fails while they differ."""
from __future__ import annotations

import json
import sys
from pathlib import Path

CATALOGUE = Path(__file__).with_name("catalogue.json")


def build() -> dict[str, list[dict]]:
    """The listings' rows from the model and data set registries themselves (slow: imports torch, builds models)."""
    from ..data import DATASETS
    from ..models import MODELS
    from ..models._counts import paper_param_count, small_param_count
    models = [{"name": name, "task": spec.task, "input": spec.input, "input_size": spec.input_size,
               "params": small_param_count(name), "paper_params": paper_param_count(name),
               "description": spec.description} for name, spec in MODELS.items()]
    datasets = [{"name": n, "task": s.task, "input": s.input, "description": s.description, "source": s.source}
                for n, s in DATASETS.items()]
    return json.loads(json.dumps({"models": models, "datasets": datasets}))   # as the file holds it (lists, not tuples)


def read(kind: str) -> list[dict]:
    """The rows of one listing ("models" or "datasets"); from the registries when the file is missing."""
    try:
        return json.loads(CATALOGUE.read_text(encoding="utf-8"))[kind]
    except (OSError, ValueError, KeyError):
        return build()[kind]


def write() -> Path:
    CATALOGUE.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return CATALOGUE


if __name__ == "__main__":
    print(f"wrote {write()}", file=sys.stderr)
