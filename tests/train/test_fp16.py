"""The GPU path's pieces, run on the CPU: fp16 autocast with its gradient scaler (trains, checkpoints its scale,
resumes exactly), the candidates "auto" tries on each device, and a training split held on the run's device
(augmentations and batches work on whatever device the split is on)."""
import json
import math

import pytest
import torch

from conftest import dlp
from dlpractice.data.loader import AUGMENTS, TensorLoader, on_device
from dlpractice.runs.checkpoint import load_checkpoint
from dlpractice.runs.evaluate import fp16_native_cpu
from dlpractice.train import probe
from dlpractice.train.grad_norms import grad_norm_metrics

RUN = ["--set", "model.name=lenet_bn", "--set", "data.dataset=digits", "--set", "train.epochs=2",
       "--set", "data.batch_size=64", "--set", "data.limit_train=512", "--set", "log.loggers=['csv']",
       "--set", "train.channels_last=false", "--set", "train.compile=off"]


def _summary(folder) -> dict:
    return json.loads((folder / "summary.json").read_text())


def test_an_fp16_run_learns_checkpoints_its_scale_and_resumes_exactly(tmp_path):
    straight, killed, ref = tmp_path / "straight", tmp_path / "killed", tmp_path / "fp32"
    fp16 = [*RUN, "--set", "train.precision=fp16", "--set", "train.checkpoint_every=5"]
    p = dlp("train", *fp16, "--out", straight)
    assert p.returncode == 0, p.stderr
    on_cpu = not torch.cuda.is_available()   # train.device = auto: CUDA where there is one
    assert ("this CPU computes fp16 in software" in p.stderr) is (on_cpu and not fp16_native_cpu())
    p = dlp("train", *fp16, "--out", killed, env={"DLPRACTICE_CRASH_AT": "step:12"})
    assert p.returncode == -9, p.stderr
    p = dlp("train", "--resume", killed)
    assert p.returncode == 0, p.stderr
    a, b = _summary(straight), _summary(killed)
    assert a["speed"]["precision"] == "fp16" and a["speed"]["how"] == "set"
    assert a["metrics"] == b["metrics"]
    # the scale and its count of clean steps came back with the weights: the resumed run ends where the straight
    # one does (on a CPU, 16 clean steps at 65,536; restarted from a fresh scaler at step 10 it would count 6)
    scaler = load_checkpoint(straight / "checkpoints" / "last.pt")["scaler"]
    assert scaler == load_checkpoint(killed / "checkpoints" / "last.pt")["scaler"] and scaler["scale"] > 0
    assert dlp("train", *RUN, "--set", "train.precision=fp32", "--out", ref).returncode == 0
    # 2 unsettled epochs: within 5% of fp32 (18 of the 360 test digits)
    assert abs(_summary(ref)["test_accuracy"] - a["test_accuracy"]) <= 0.05
    assert a["test_accuracy"] > 0.8


def test_fp16_refuses_an_optimizer_that_re_evaluates_the_loss(tmp_path):
    p = dlp("train", *RUN, "--set", "train.precision=fp16", "--set", "optim.name=lbfgs", "--out", tmp_path / "r")
    assert p.returncode == 2
    assert "train.precision = fp16 cannot step optim.name = lbfgs" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_a_step_the_scaler_skipped_is_left_out_of_the_gradient_norms():
    class Run:   # what settle_grad_norms reads of a trainer
        pending_norms = {"": [[torch.tensor(3.0), torch.tensor(4.0)], [torch.tensor(math.inf)], [torch.tensor(1.0)]]}
        grad_norms: dict = {}
        scaler = torch.amp.GradScaler("cpu")
    m = grad_norm_metrics(Run())
    assert m["grad_norm_mean"] == pytest.approx(3.0) and m["grad_norm_max"] == pytest.approx(5.0)


def test_auto_tries_fp16_on_cuda_only_and_compiles_there_with_graphs(monkeypatch):
    monkeypatch.setattr(probe, "bf16_native", lambda device: device.type == "cuda")
    assert probe.precisions(torch.device("cpu")) == ["fp32"]
    assert probe.precisions(torch.device("cuda")) == ["fp32", "bf16", "fp16"]
    assert probe.compile_mode(torch.device("cuda")) == "reduce-overhead"
    assert probe.compile_mode(torch.device("cpu")) == "default"


def test_a_split_is_held_on_the_device_as_data_on_device_says():
    x, y = torch.randn(10, 1, 4, 4), torch.arange(10)
    cpu, meta = torch.device("cpu"), torch.device("meta")
    for setting in (True, False, "auto"):           # the CPU holds it where it is
        assert on_device(x, y, cpu, setting)[0] is x
    assert on_device(x, y, meta, False)[0] is x
    assert on_device(x, y, meta, "auto")[0] is x     # auto moves only to CUDA, with room to spare
    moved = on_device(x, y, meta, True)
    assert moved[0].device == meta and moved[1].device == meta


@pytest.mark.parametrize("aug", sorted(AUGMENTS))
def test_augmentations_and_batches_work_on_the_split_s_device(aug):
    """A split on another device (here "meta", which has shapes but no values) is gathered and augmented there,
    with the generator's draws made on the CPU as before: nothing mixes devices."""
    x, y = torch.randn(20, 1, 8, 8), torch.arange(20)
    loader = TensorLoader(x.to("meta"), y.to("meta"), 8, shuffle=True, augments=[AUGMENTS[aug]])
    batches = list(loader.batches(0))
    assert [b[0].shape[0] for b in batches] == [8, 8, 4]
    assert all(b[0].device.type == "meta" and b[0].shape[1:] == x.shape[1:] for b in batches)
    cpu = TensorLoader(x, y, 8, shuffle=True, augments=[AUGMENTS[aug]])
    list(cpu.batches(0))   # the same draws from the same generator: its state moved as the meta loader's did
    assert loader.augment_gen.get_state().equal(cpu.augment_gen.get_state())


def test_an_fp16_run_predicts_in_fp32_on_a_cpu_without_fp16(monkeypatch):
    """Training keeps fp16 wherever it was asked for; evaluation and prediction on a CPU that only emulates fp16
    run in fp32 (as precise, and several times faster there); one that computes fp16 keeps it."""
    from dlpractice.config import load_config
    from dlpractice.runs import evaluate
    cfg = load_config(overrides=["train.precision=fp16"])
    cpu = torch.device("cpu")
    monkeypatch.setattr(evaluate, "fp16_native_cpu", lambda: False)
    with evaluate.autocast(cfg, cpu):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.float16
    with evaluate.autocast(cfg, cpu, inference=True):
        assert not torch.is_autocast_enabled("cpu")
    monkeypatch.setattr(evaluate, "fp16_native_cpu", lambda: True)
    with evaluate.autocast(cfg, cpu, inference=True):
        assert torch.get_autocast_dtype("cpu") == torch.float16
