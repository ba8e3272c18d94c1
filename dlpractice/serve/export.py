"""`dlp export RUN --format onnx|torchscript [--check]`: a run's model as a file other runtimes load.

The file maps the model's input to its logits (the model contract; softmax / sigmoid are left to the
caller), with a dynamic batch dimension and, for sequence models, a dynamic sequence length. The run's
data meta (classes, normalization, vocabulary, tabular preprocessing) travels inside the file: ONNX
metadata property `dlpractice.data_meta`, TorchScript extra file `data_meta.json`.

Sequence models run over packed sequences (`pack_padded_sequence`), which neither exporter can
record. `PaddedRecurrent` computes the same outputs from the padded ids: each direction of each layer
runs over the padded batch; the backward direction first reverses every sequence within its own length,
so that it starts at the last real character; the final hidden state is the output at the last real
step (what packing returns); outputs past a sequence's end are masked out of max / mean pooling.
`--check` compares the file with the packed PyTorch model on real test inputs, names of different
lengths in one batch included.

`served_model` is the same tracing for `dlp serve`: the model it runs, optimised for inference.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from ..inputs import INPUT_KINDS
from ..models.calibration import Tempered
from ..models.ensemble import Ensemble, ViewAverage
from ..models.rnn import SequenceClassifier
from ..registry import Registry

TOLERANCE = 1e-5  # max |logit difference| accepted by --check (float32 rounding of a different kernel order)
OPSET = 17


# -- sequence models without packing ----------------------------------------------------------------------
def _gather_steps(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, T, F), index (B, T') → x[b, index[b, t], :] of shape (B, T', F)."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[2]))


def _single(rnn: nn.RNNBase, layer: int, suffix: str) -> nn.RNNBase:
    """One direction of one layer of `rnn` as its own single-layer, one-way module (weights copied)."""
    width = rnn.input_size if layer == 0 else rnn.hidden_size * (2 if rnn.bidirectional else 1)
    kw = {"nonlinearity": rnn.nonlinearity} if isinstance(rnn, nn.RNN) else {}
    one = type(rnn)(width, rnn.hidden_size, num_layers=1, bias=rnn.bias, batch_first=True, **kw)
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if rnn.bias else [])
    with torch.no_grad():
        for n in names:
            getattr(one, f"{n}_l0").copy_(getattr(rnn, f"{n}_l{layer}{suffix}"))
    return one.eval()


class PaddedRecurrent(nn.Module):
    """A `SequenceClassifier` whose recurrence runs over padded ids (B, T) without packing; same logits."""

    def __init__(self, m: SequenceClassifier):
        super().__init__()
        self.m = m
        rnn = m.rnn
        suffixes = ["", "_reverse"][:m.directions]
        self.layers = nn.ModuleList(nn.ModuleList(_single(rnn, k, s) for s in suffixes) for k in range(rnn.num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.m
        lengths = (x != 0).sum(1).clamp(min=1)                       # (B,) as the packed model counts them
        t = torch.arange(x.shape[1], device=x.device).unsqueeze(0)   # (1, T)
        real = t < lengths.unsqueeze(1)                              # (B, T) steps inside each sequence
        reverse = torch.where(real, lengths.unsqueeze(1) - 1 - t, t)  # (B, T) flips each sequence in place
        last = (lengths - 1).unsqueeze(1)                            # (B, 1) index of the last real step
        emb = m.embedding(x)                                         # (B, T, E)
        seq, finals = emb, []
        for layer in self.layers:
            outs, finals = [], []
            for d, cell in enumerate(layer):
                inp = seq if d == 0 else _gather_steps(seq, reverse)
                out, _ = cell(inp)                                   # (B, T, H); steps past the end unused
                finals.append(_gather_steps(out, last).squeeze(1))   # (B, H): the packed final hidden state
                outs.append(out if d == 0 else _gather_steps(out, reverse))
            seq = torch.cat(outs, dim=2)                             # (B, T, H * directions), time order
        feats = []
        if m.pool in ("last", "last+max"):
            feats.append(torch.cat(finals, dim=1))
        if m.pool != "last":
            mask = real.unsqueeze(-1)
            if m.pool == "mean":
                feats.append((seq * mask).sum(1) / lengths.unsqueeze(1).to(seq.dtype))
            else:
                feats.append(seq.masked_fill(~mask, float("-inf")).amax(1))
        if len(m.ngrams):
            feats.extend(m._ngram_features(emb, lengths))
        return m.fc(torch.cat(feats, dim=1))


def _tempered(m: Tempered) -> Tempered:
    """train.calibrate's wrapper around the exportable form of its model, with the same temperature."""
    out = Tempered(exportable(m.model))
    out.temperature.copy_(m.temperature)
    return out


# Models that need another exportable form with the same outputs, by class; others export as they are.
EXPORT_FORMS: dict[type, Callable[[nn.Module], nn.Module]] = {
    SequenceClassifier: PaddedRecurrent,
    Ensemble: lambda m: Ensemble([exportable(x) for x in m.members]),
    ViewAverage: lambda m: ViewAverage(exportable(m.model), m.flip, m.shift),
    Tempered: _tempered,
}


def exportable(model: nn.Module) -> nn.Module:
    return EXPORT_FORMS.get(type(model), lambda m: m)(model).eval()


# -- inputs ---------------------------------------------------------------------------------------------------
def _example(meta: dict) -> torch.Tensor:
    """A small input batch of the right shape and dtype, for tracing (the run's input kind draws it)."""
    return INPUT_KINDS.get(meta["input"]).example(meta, 3)


def _has_length(meta: dict) -> bool:
    """Does the input have a variable length (axis 1: padded character ids)?"""
    return 1 in INPUT_KINDS.get(meta["input"]).axes


def check_inputs(pred, n: int = 256) -> torch.Tensor:
    """Real inputs: the first `n` of the run's test split (re-read like `dlp evaluate` does), for sequence
    runs mixing short and long names; a random batch of the right shape when the data set is unavailable."""
    from ..data import load_dataset
    try:
        x = load_dataset(pred.cfg.data, pred.meta.get("size")).splits["test"].x[:n]
    except UserError:
        x = _example(pred.meta)
    if _has_length(pred.meta):
        x = x[:, :int((x != 0).sum(1).max())]            # the split's padding beyond its longest name
    return x


# -- formats ----------------------------------------------------------------------------------------------
@dataclass
class Format:
    suffix: str
    save: Callable[[nn.Module, torch.Tensor, Path, dict], None]
    load: Callable[[Path], Callable[[torch.Tensor], np.ndarray]]  # file → (input → logits)
    runtime: str


FORMATS: Registry[Format] = Registry("export format")


def _dims(meta: dict) -> dict:
    return INPUT_KINDS.get(meta["input"]).axes


def _save_onnx(model: nn.Module, example: torch.Tensor, path: Path, meta: dict) -> None:
    import warnings

    import onnx
    # dynamo=False: the TorchScript-based exporter, which needs no onnxscript and handles dynamic_axes.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notice of the TorchScript-based exporter
        torch.onnx.export(model, (example,), str(path), input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": _dims(meta), "logits": {0: "batch"}}, opset_version=OPSET,
                          dynamo=False)
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {"dlpractice.data_meta": json.dumps(meta, ensure_ascii=False)})
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def _load_onnx(path: Path):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(["logits"], {"input": x.numpy()})[0]


def _save_torchscript(model: nn.Module, example: torch.Tensor, path: Path, meta: dict) -> None:
    import warnings
    with torch.no_grad(), warnings.catch_warnings():
        # TracerWarnings from nn.RNN's input-size checks: constants for one model, checked by --check
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(model, (example,), check_trace=False)
    torch.jit.save(traced, str(path), _extra_files={"data_meta.json": json.dumps(meta, ensure_ascii=False)})


def _load_torchscript(path: Path):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load's notice; the format still loads
        m = torch.jit.load(str(path), map_location="cpu").eval()

    def run(x):
        with torch.no_grad():
            return m(x).numpy()
    return run


FORMATS.add("onnx", Format(".onnx", _save_onnx, _load_onnx, "onnxruntime"))
FORMATS.add("torchscript", Format(".torchscript.pt", _save_torchscript, _load_torchscript, "torch.jit.load"))


def compare(pred, run_file: Callable, x: torch.Tensor) -> dict:
    """Max |logit difference| between the exported file and the PyTorch model (the packed one for sequence
    runs): on all of `x` at once, one input at a time for the first few, and in uneven chunks."""
    with torch.no_grad():
        want = pred.model(x).numpy()
    diffs = [np.abs(run_file(x) - want).max()]
    sizes = [len(x), 1, 7]
    for i in range(min(8, len(x))):
        diffs.append(np.abs(run_file(x[i:i + 1]) - want[i:i + 1]).max())
    for i in range(0, len(x), 7):
        diffs.append(np.abs(run_file(x[i:i + 7]) - want[i:i + 7]).max())
    out = {"inputs": len(x), "batch_sizes": sizes, "max_abs_diff": float(max(diffs)), "tolerance": TOLERANCE}
    if _has_length(pred.meta):
        lens = (x != 0).sum(1)
        out["lengths"] = f"{int(lens.min())}–{int(lens.max())}"
    out["ok"] = out["max_abs_diff"] <= TOLERANCE
    return out


def served_model(pred, sizes: tuple[int, ...] = (1, 3, 8)) -> tuple[Callable[[torch.Tensor], torch.Tensor], str]:
    """The model `dlp serve` runs, and its name: the run's model traced to TorchScript and optimised for
    inference ("torchscript": batch norm folded into the layers before it, the whole forward pass one call
    into C++ that holds the GIL only to enter and leave it, where the PyTorch modules take and give it back
    at every layer, so the event loop and the decoding threads run meanwhile), when its logits equal the
    PyTorch model's within TOLERANCE on random inputs `sizes` at a time; the PyTorch model ("pytorch")
    where tracing fails or differs, and for inputs of a variable length (sequence runs), whose traced
    form (`PaddedRecurrent`) is a different computation."""
    import warnings
    if _has_length(pred.meta):
        return pred.model, "pytorch"
    gen = torch.Generator().manual_seed(0)
    kind = INPUT_KINDS.get(pred.meta["input"])
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings and TorchScript's deprecation notices
            traced = torch.jit.optimize_for_inference(torch.jit.trace(exportable(pred.model), (_example(pred.meta),),
                                                                      check_trace=False))
            for n in sizes:
                x = kind.example(pred.meta, n, gen)
                if not (traced(x) - pred.model(x)).abs().max() <= TOLERANCE:   # NaN counts as a difference
                    return pred.model, "pytorch"
    except Exception:  # noqa: BLE001  (a model tracing cannot follow is served as it is)
        return pred.model, "pytorch"
    return traced, "torchscript"


def export(run, fmt: str = "onnx", out=None, checkpoint: str = "best", check: bool = False,
           force: bool = False) -> dict:
    """Write the run's model as `fmt` (atomically) and, with `check`, compare it with PyTorch; a report."""
    from ..runs.predictor import Predictor
    f = FORMATS.get(fmt)
    pred = Predictor(run, checkpoint)
    path = Path(out) if out else pred.run.folder / "export" / f"model{f.suffix}"
    if path.exists() and not force:
        raise UserError(f"{path} already exists; pass --force to replace it, or --out another file")
    path.parent.mkdir(parents=True, exist_ok=True)
    model = exportable(pred.model)
    example = _example(pred.meta)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    os.close(fd)
    try:
        f.save(model, example, Path(tmp), pred.meta)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes 0600; an exported model is a file to share, like any other
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    axes = _dims(pred.meta)
    shape = ["batch", *(axes.get(i, n) for i, n in enumerate(example.shape[1:], 1))]
    with torch.no_grad():
        logits = pred.model(example)
    report = {"path": str(path), "format": fmt, "bytes": path.stat().st_size,
              "input": str(example.dtype).replace("torch.", ""), "input_shape": shape,
              "output_shape": ["batch", *logits.shape[1:]]}
    if check:
        report["check"] = {"runtime": f.runtime, **compare(pred, f.load(path), check_inputs(pred))}
    return report
