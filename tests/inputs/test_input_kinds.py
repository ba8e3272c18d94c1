"""Input kinds: one registry holds each kind's CLI reader, HTTP reader, example batch and export axes."""
from __future__ import annotations

import pytest
import torch

from dlpractice.errors import UserError
from dlpractice.inputs import INPUT_KINDS, example_batch
from dlpractice.models import MODELS


def test_every_model_input_is_a_registered_kind():
    kinds = {spec.input for _, spec in MODELS.items()}
    assert kinds <= set(INPUT_KINDS.names())
    assert set(INPUT_KINDS.names()) == {"image", "image-features", "tabular", "tabular-derived", "sequence",
                                        "noise"}


@pytest.mark.parametrize("kind, dims, shape, dtype", [
    ("image", {"in_channels": 3, "size": 32}, (3, 3, 32, 32), torch.float32),
    ("image-features", {"in_features": 1204}, (3, 1204), torch.float32),
    ("tabular", {"in_features": 5}, (3, 5), torch.float32),
    ("tabular-derived", {"in_features": 33}, (3, 33), torch.float32),
    ("sequence", {"vocab_size": 40}, (3, 7), torch.int64),
    ("noise", {"latent_dim": 16}, (3, 16), torch.float32),
])
def test_example_batches(kind, dims, shape, dtype):
    x = example_batch(kind, dims, n=3)
    assert tuple(x.shape) == shape and x.dtype == dtype
    assert torch.equal(x, example_batch(kind, dims, n=3))   # seeded: the same batch every time
    if kind == "sequence":   # padded rows of different lengths, as real batches have
        assert ((x != 0).sum(1)).tolist() == [7, 4, 2] and int(x[x != 0].min()) >= 2


def test_served_kinds_say_what_they_take():
    for name in ("image", "image-features", "tabular", "tabular-derived", "sequence"):
        kind = INPUT_KINDS.get(name)
        assert kind.http is not None and kind.how and kind.body, name
    assert INPUT_KINDS.get("sequence").axes == {0: "batch", 1: "length"}
    assert INPUT_KINDS.get("image").axes == {0: "batch"}
    assert INPUT_KINDS.get("noise").http is None


def test_noise_is_drawn_not_read():
    with pytest.raises(UserError, match="dlp sample"):
        INPUT_KINDS.get("noise").read({}, ["anything"])


def test_an_unknown_kind_is_a_clear_error():
    with pytest.raises(UserError, match=r"unknown input kind 'imag' \(did you mean 'image'"):
        INPUT_KINDS.get("imag")
