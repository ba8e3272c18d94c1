"""How steady the speed probe's choice is (issue 20): the probe of `train.precision` / `channels_last` = auto
run again and again, uncached, on the first training batch a run would probe, for the models of
bench/speed.py; each probe's choice and its median step times.

The probe's rule can be loosened to see what its rounds buy: `--rounds 3 --min-timed 0.03 --slower 3` is the
earlier rule (three rounds of at least 30 ms, the median alone decides).

    DLP_DATA_DIR=../shared/data python bench/probe_choice.py [--repeat 6] [--models course_rnn ...]
"""
from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import dlpractice  # noqa: F401  (its OpenMP wait policy, as for `dlp`)
import torch

from dlpractice.config import load_config
from dlpractice.data import load_dataset
from dlpractice.models import MODELS, build_model
from dlpractice.runs.tasks import TASKS
from dlpractice.train import probe

sys.path.insert(0, str(Path(__file__).parent))
from speed import MODELS_RUN  # noqa: E402  (bench/speed.py: its models, data sets and arguments)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS_RUN), choices=list(MODELS_RUN))
    ap.add_argument("--repeat", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=probe.ROUNDS)
    ap.add_argument("--min-timed", type=float, default=probe.MIN_TIMED_S, help="seconds each round times at least")
    ap.add_argument("--slower", type=int, default=probe.SLOWER_ROUNDS, help="rounds a kept candidate may lose")
    a = ap.parse_args()
    probe.ROUNDS, probe.MIN_TIMED_S, probe.SLOWER_ROUNDS = a.rounds, a.min_timed, a.slower
    probe._read_cache, probe._write_cache = dict, lambda key, entry: None   # probe every time, keep nothing
    torch.set_num_threads(a.threads)
    cpu = torch.device("cpu")
    print(f"# {probe.device_model(cpu)}, {a.threads} threads, torch {torch.__version__}; rounds {a.rounds}, "
          f"≥ {a.min_timed:g} s each, a kept candidate loses ≤ {a.slower} of them")
    for name in a.models:
        dataset, args, _ = MODELS_RUN[name]
        spec = MODELS.get(name)
        cfg = load_config(overrides=[f"data.dataset={dataset}"])
        data = load_dataset(cfg.data, spec.input_size)
        args = spec.resolve_args(data.meta, args)
        x, y = data.splits["train"].x[:128], data.splits["train"].y[:128]   # what `dlp train` probes
        torch.manual_seed(0)
        model = build_model(name, args)
        work = probe.supervised_work(model, name, args, x, y, TASKS.get(spec.task))
        cand = probe.candidates(cfg, work, cpu)
        chosen = collections.Counter()
        for _ in range(a.repeat):
            f = probe.probe(work, cpu, cand)
            choice = probe._name((f["precision"], f["channels_last"]))
            chosen[choice] += 1
            steps = ", ".join(f"{k} {v:.1f}" for k, v in f["step_ms"].items())
            print(f"  {name}: {choice}  (ms: {steps}; {f['probe_seconds']:.1f} s)", flush=True)
        print(f"{name}: " + ", ".join(f"{k} {n} of {a.repeat}" for k, n in chosen.most_common()))


if __name__ == "__main__":
    main()
