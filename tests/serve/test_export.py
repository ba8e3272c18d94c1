"""`dlp export`: ONNX (onnxruntime) and TorchScript (torch.jit.load) files give PyTorch's logits to ≤ 1e-5 for
each task kind (image, table rows, names — the names model against the packed PyTorch model, with a dynamic
batch and sequence length); the padded rewrite of the recurrent models equals packing for every cell and
pooling; the CLI refuses to overwrite and names a missing run folder."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from dlpractice.errors import UserError
from dlpractice.serve.export import PaddedRecurrent, export

from test_serve_http import tiny_run


def _view_average_copy(folder, out, **views):
    """A copy of an image run whose model is wrapped in ViewAverage (the same weights under `model.`)."""
    import shutil

    from dlpractice.runs.checkpoint import load_checkpoint, save_checkpoint
    shutil.copytree(folder, out)
    for name in ("best", "last"):
        ck = load_checkpoint(out / "checkpoints" / f"{name}.pt")
        ck["model"] = {f"model.{k}": v for k, v in ck["model"].items()}
        ck["model_args"] = {**ck["model_args"], **views}
        save_checkpoint(out / "checkpoints" / f"{name}.pt", ck)
    return out


@pytest.fixture(scope="module")
def runs(fashion_run, tmp_path_factory):
    return {"image": fashion_run, "names": tiny_run("names", tmp_path_factory),
            "table": tiny_run("diabetes", tmp_path_factory),
            "names_ensemble": tiny_run("names_ensemble", tmp_path_factory),
            "image_flip_average": _view_average_copy(fashion_run, tmp_path_factory.mktemp("flip") / "run",
                                                     flip_average=True),
            "image_shift_average": _view_average_copy(fashion_run, tmp_path_factory.mktemp("shift") / "run",
                                                      flip_average=True, shift_average=1)}


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("kind", ["image", "table", "names", "names_ensemble", "image_flip_average",
                                  "image_shift_average"])
def test_export_equals_pytorch(runs, kind, fmt, tmp_path):
    from dlpractice.serve.export import FORMATS
    from dlpractice.runs.predictor import Predictor
    out = tmp_path / f"model.{fmt}"
    report = export(runs[kind], fmt, out, check=True)
    c = report["check"]
    assert c["ok"] and c["max_abs_diff"] <= 1e-5 and c["inputs"] >= 100, c
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask    # readable by others (0644 by the usual umask), not 0600
    # independently of the check: a batch of 3 real inputs through the file, by the other runtime
    pred = Predictor(runs[kind])
    from dlpractice.serve.export import check_inputs
    x = check_inputs(pred, 64)
    if kind.startswith("names"):     # long and short names together, padded to a longer length than traced
        x = torch.cat([x, torch.zeros(len(x), 5, dtype=x.dtype)], 1)
        order = (x != 0).sum(1).argsort()
        x = x[torch.cat([order[:1], order[-1:], order[len(order) // 2:len(order) // 2 + 1]])]
        assert len(set((x != 0).sum(1).tolist())) == 3
    else:
        x = x[:3]
    got = FORMATS.get(fmt).load(out)(x)
    with torch.no_grad():
        want = pred.model(x).numpy()
    assert got.shape == want.shape and np.abs(got - want).max() <= 1e-5
    if fmt == "onnx":
        import onnx
        props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
        assert json.loads(props["dlpractice.data_meta"])["input"] == pred.meta["input"]
    else:
        files = {"data_meta.json": ""}
        torch.jit.load(str(out), _extra_files=files)
        assert json.loads(files["data_meta.json"])["classes"] == pred.meta["classes"]


@pytest.mark.parametrize("args", [
    dict(cell="gru", num_layers=2, pool="last"), dict(cell="lstm", pool="max"), dict(cell="rnn", pool="mean"),
    dict(cell="gru", pool="last+max", bidirectional=False, ngram_channels=4, ngram_pool="max+mean"),
])
def test_padded_recurrence_equals_packing(args):
    """Random weights, names of lengths 1–12 right-padded to 15: same logits as the packed model."""
    from dlpractice.models import build_model
    torch.manual_seed(0)
    m = build_model("rnn_classifier", {"vocab_size": 30, "num_classes": 5, "embedding_dim": 8, "hidden_size": 6,
                                       **args}).eval()
    lengths = torch.tensor([1, 12, 5, 3, 12, 7])
    x = torch.randint(2, 30, (6, 15)) * (torch.arange(15)[None, :] < lengths[:, None])
    with torch.no_grad():
        assert torch.allclose(PaddedRecurrent(m)(x), m(x), atol=1e-6)


def test_a_calibrated_name_model_exports_with_its_temperature():
    """train.calibrate's wrapper around a packed-sequence model: the exportable form keeps the wrapper and its
    temperature around the padded recurrence, with the same (tempered) logits."""
    from dlpractice.models import build_model
    from dlpractice.models.calibration import Tempered
    from dlpractice.serve.export import exportable
    torch.manual_seed(0)
    m = build_model("rnn_classifier", {"vocab_size": 30, "num_classes": 5, "embedding_dim": 8, "hidden_size": 6,
                                       "calibrated": True}).eval()
    m.temperature.fill_(1.7)
    e = exportable(m)
    assert isinstance(e, Tempered) and isinstance(e.model, PaddedRecurrent) and float(e.temperature) == pytest.approx(1.7)
    lengths = torch.tensor([1, 12, 5])
    x = torch.randint(2, 30, (3, 15)) * (torch.arange(15)[None, :] < lengths[:, None])
    with torch.no_grad():
        assert torch.allclose(e(x), m(x), atol=1e-6) and torch.allclose(m(x) * 1.7, m.model(x), atol=1e-5)


def test_export_cli_check_refuses_overwrite_and_missing_run(runs, tmp_path, capsys):
    from dlpractice.cli import main
    out = tmp_path / "names.onnx"
    assert main(["export", str(runs["names"]), "--format", "onnx", "--out", str(out), "--check"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "['batch', 'length']" in printed and "— ok" in printed
    assert main(["export", str(runs["names"]), "--out", str(out)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main(["export", str(runs["names"]), "--out", str(out), "--force"]) == 0
    assert main(["export", str(tmp_path / "nope")]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    with pytest.raises(UserError, match="unknown export format"):
        export(runs["names"], "tflite")
