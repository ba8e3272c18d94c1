"""Lessons: one TOML file per lecture setup, run by kind — train, compare, cv or scratch — and one module
per lecture holding the entries and reports its TOMLs name (`lessons/hooks.py`)."""
from __future__ import annotations

import importlib
import json
import pkgutil
import statistics
import time
import tomllib
from pathlib import Path
from typing import Callable

from ..config import load_config, load_toml
from ..errors import UserError
from ..registry import Registry
from ..runs.folder import write_json

HERE = Path(__file__).parent


def lectures() -> list[dict]:
    """Lectures 1–13 with titles, what each runs, its lesson file and whether it is implemented."""
    out = []
    for lec in tomllib.loads((HERE / "index.toml").read_text(encoding="utf-8"))["lecture"]:
        lec = dict(lec)
        lec["implemented"] = bool(lec.get("lesson")) and (HERE / lec["lesson"]).is_file()
        out.append(lec)
    return out


def named_lessons() -> list[tuple[str, str]]:
    """(name, title) of every lesson file besides the lectures' own: the named recipes (`lenet`,
    `fashion_best`, `titanic_wcg`, ...), which `dlp lesson NAME` runs."""
    own = {lec.get("lesson") for lec in lectures()}
    out = []
    for p in sorted(HERE.glob("*.toml")):
        if p.stem != "index" and p.name not in own:
            out.append((p.stem, str((load_toml(p).get("lesson") or {}).get("title", ""))))
    return out


def lesson_path(name: str | int) -> Path:
    """A lecture number, a lesson name (`lenet`) or a path to a lesson TOML file."""
    text = str(name)
    if text.isdigit():
        for lec in lectures():
            if lec["number"] == int(text):
                if not lec["implemented"]:
                    raise UserError(f"lecture {text} ({lec['en']} / {lec['zh']}) is not implemented yet; "
                                    "`dlp lessons` lists what runs today")
                return HERE / lec["lesson"]
        raise UserError(f"there is no lecture {text}; the course has lectures 1–13 (`dlp lessons`)")
    p = Path(text)
    if p.is_file():
        return p
    if (HERE / f"{text}.toml").is_file():
        return HERE / f"{text}.toml"
    raise UserError(f"no lesson '{text}': give a lecture number (1–13), a lesson name "
                    f"({', '.join(sorted(q.stem for q in HERE.glob('*.toml') if q.stem != 'index'))}) or a TOML path")


def run_train(lesson: dict, path: Path, overrides: list[str], out: Path | None) -> tuple[dict, Path]:
    from ..train.loop import train
    run = train(load_config(path, overrides), out=out)
    return run.summary, run.folder


PLAN = "lesson-plan.json"   # in a compare / cv lesson's folder: which lesson, with which overrides


def _parent_dir(lesson: dict, path: Path, out: Path | None, overrides: list[str]) -> Path:
    """The folder of a lesson made of several runs. The same command again (same lesson, same overrides,
    same --out) continues a lesson that was stopped or killed: finished runs are kept, the others resumed
    or started again; any other folder that is not empty is refused."""
    if out is not None:
        folder = Path(out)
    else:
        runs_dir = Path(load_config(path).log.runs_dir)
        folder = runs_dir / f"lesson-{path.stem}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--out {folder} is a file, not a folder; choose another --out")
    plan = {"lesson": path.name, "overrides": list(overrides)}
    if folder.is_dir() and any(folder.iterdir()):
        try:
            same = json.loads((folder / PLAN).read_text(encoding="utf-8")) == plan
        except (OSError, ValueError):
            same = None
        if same:
            return folder
        first = min(p.name for p in folder.iterdir())
        why = (f"holds lesson {folder / PLAN} with other settings" if same is False
               else f"is not empty (it holds {first})")
        raise UserError(f"{folder} {why}; nothing was written: choose another --out, or remove that folder to "
                        "run the lesson again")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / PLAN, plan)
    except OSError as e:
        raise UserError(f"cannot create {folder}: {e.strerror}; choose another --out") from None
    return folder


def _child_run(cfg, folder: Path, command: str):
    """One run of a lesson: kept when finished, continued from its checkpoint, else (re)started. Ctrl-C
    says to run the lesson's command again, which continues it."""
    from ..runs.folder import has_checkpoint
    from ..train.loop import TrainingInterrupted, resume, train
    saved = has_checkpoint(folder)
    if saved:
        print(f"continuing the lesson: {folder}", flush=True)
    try:
        return resume(folder) if saved else train(cfg, out=folder)
    except TrainingInterrupted as e:
        first = str(e).split(";")[0]
        raise TrainingInterrupted(f"{first} of {folder.name}; checkpoint saved. Continue the lesson with the same "
                                  f"command:\n  {command}") from None


def _command(path: Path, overrides: list[str], parent: Path) -> str:
    sets = "".join(f" --set '{o}'" for o in overrides)
    return f"dlp lesson {path.stem}{sets} --out {parent}"


def run_compare(lesson: dict, path: Path, overrides: list[str], out: Path | None) -> tuple[dict, Path]:
    """Several runs of one setup with one thing varied; child runs + comparison figure and table."""
    from ..track.compare import compare_runs
    variants = load_toml(path).get("variants") or []
    if not variants:
        raise UserError(f"compare lesson {path} has no [[variants]]")
    parent = _parent_dir(lesson, path, out, overrides)
    result, folders = {}, []
    for v in variants:
        cfg = load_config(path, list(v.get("set", [])) + overrides)
        run = _child_run(cfg, parent / v["name"], _command(path, overrides, parent))
        folders.append(run.folder)
        for k, val in run.summary["metrics"].items():
            result[f"{v['name']}.{k}"] = val
    table = compare_runs(folders, parent / "comparison.png", title=lesson.get("title", ""))
    write_json(parent / "comparison.json", table)
    return result, parent


def run_cv(lesson: dict, path: Path, overrides: list[str], out: Path | None) -> tuple[dict, Path]:
    """k-fold cross-validation: fold i is the test split of child run i; mean ± std of its metrics.
    The data set does the folding (data.options.folds / fold), fitting preprocessing inside each fold."""
    k = int(lesson.get("folds", 5))
    parent = _parent_dir(lesson, path, out, overrides)
    per_fold: dict[str, list[float]] = {}
    for i in range(k):
        cfg = load_config(path, overrides)
        cfg.data.options = {**cfg.data.options, "folds": k, "fold": i}
        run = _child_run(cfg, parent / f"fold{i}", _command(path, overrides, parent))
        for m, v in run.summary["metrics"].items():
            per_fold.setdefault(m, []).append(v)
    result = {}
    for m, vals in per_fold.items():
        result[f"mean_{m}"] = statistics.fmean(vals)
        result[f"std_{m}"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
    write_json(parent / "cv.json", {"folds": k, "per_fold": per_fold, **result})
    return result, parent


def run_scratch(lesson: dict, path: Path, overrides: list[str], out: Path | None,
                quick: bool = False) -> tuple[dict, Path]:
    """Code that is not the loop (lectures 1–4, 8, 12): `entry = "NAME"`, a registered entry called as
    fn(out, quick)."""
    func: Callable = lesson_hooks()[0].get(str(lesson.get("entry")))
    folder = _parent_dir(lesson, path, out, overrides + (["--quick"] if quick else []))
    result = func(folder, quick=quick)   # the same command again runs it again there
    write_json(folder / "result.json", result)
    return result, folder


def lesson_hooks():
    """(ENTRIES, REPORTS) with the hooks of every module of this package registered. The modules are
    imported on first use (they bring in torch, matplotlib and the tracking code, which `dlp lessons`
    does not need); a new lesson module is found by being here."""
    from .hooks import ENTRIES, REPORTS
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    return ENTRIES, REPORTS


KINDS: Registry[Callable] = Registry("lesson kind")
for _name, _fn in [("train", run_train), ("compare", run_compare), ("cv", run_cv), ("scratch", run_scratch)]:
    KINDS.add(_name, _fn)


def _bound(exp: dict) -> str:
    return " and ".join(f"{sign} {exp[k]}" for k, sign in (("min", "≥"), ("max", "≤")) if k in exp)


def check_expectation(lesson: dict, result: dict, quick: bool = False) -> tuple[bool | None, str]:
    """Compare the lesson's `expect = {metric, min | max}` with the result; a line for the user. A quick
    run (the lesson's `quick` overrides: fewer epochs, a subset) is judged by its own `quick_expect`, or
    not at all — the full lesson's expectation is not a quick run's; a lesson without `quick` overrides
    runs the same either way and keeps its expectation."""
    judged = lesson.get("quick_expect") if quick and lesson.get("quick") else lesson.get("expect")
    full = lesson.get("expect")
    if not judged:
        if not (quick and full):
            return None, ""
        value = result.get(full["metric"])
        shown = f"{value:.4g}" if isinstance(value, (int, float)) else "missing"
        return None, (f"quick run ({', '.join(lesson['quick'])}): {full['metric']} = {shown}, a first look; "
                      f"the full lesson (without --quick) expects {_bound(full)}")
    metric = judged["metric"]
    value = result.get(metric)
    if value is None:
        return False, f"expected metric '{metric}' missing from the result"
    ok = (value >= judged["min"] if "min" in judged else True) and (value <= judged["max"] if "max" in judged else True)
    which = "the quick run's expectation" if judged is not full else "the expectation"
    prefix = f"quick run ({', '.join(lesson['quick'])}): " if quick and lesson.get("quick") else ""
    return ok, f"{prefix}{metric} = {value:.4g} ({'meets' if ok else 'MISSES'} {which} {_bound(judged)})"


def _mark_runs(folder: Path, lesson: str, quick: list[str]) -> None:
    """Say in each run's summary.json that a quick run of `lesson` made it, with its overrides (a full lesson's
    runs are left as they finished: continuing a lesson never rewrites a finished run)."""
    if not quick:
        return
    for summary in [folder / "summary.json", *sorted(folder.glob("*/summary.json"))]:
        try:
            data = json.loads(summary.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        write_json(summary, {**data, "lesson": lesson, "quick": bool(quick), "quick_overrides": quick})


def _as_run(quick: list[str], overrides: list[str]) -> list[str]:
    """The lesson's quick settings as the run gets them: one the user's --set also gives is said with the user's
    value (a later --set wins)."""
    mine = {o.split("=", 1)[0].strip(): o for o in overrides if "=" in o}
    return [mine.get(q.split("=", 1)[0].strip(), q) for q in quick]


def run_lesson(name: str | int, overrides: list[str] | None = None, out: str | Path | None = None,
               quick: bool = False) -> tuple[dict, Path, bool | None]:
    """Run a lesson; returns (result, folder, expectation met). `quick` applies the lesson's own
    `quick` overrides (fewer epochs, a subset) — the same code path, for tests and a first look."""
    path = lesson_path(name)
    lesson = load_toml(path).get("lesson")
    if not isinstance(lesson, dict) or "kind" not in lesson:
        raise UserError(f"{path} is not a lesson file: it needs a [lesson] table with a kind")
    quick_sets = _as_run(lesson.get("quick", []), overrides or []) if quick else []
    overrides = (list(lesson.get("quick", [])) if quick else []) + list(overrides or [])
    runner = KINDS.get(lesson["kind"])
    if lesson.get("report"):
        lesson_hooks()[1].get(str(lesson["report"]))  # an unknown report name is refused before anything runs
    kw = {"quick": quick} if lesson["kind"] == "scratch" else {}
    if quick_sets:
        print(f"quick run of lesson {path.stem} ({', '.join(quick_sets)}): a first look, not the lesson's "
              "result", flush=True)
    result, folder = runner(lesson, path, overrides, Path(out) if out else None, **kw)
    if lesson.get("report"):  # `report = "NAME"`, a registered report called with the run (or lesson) folder
        result = {**result, **(lesson_hooks()[1].get(str(lesson["report"]))(Path(folder), result) or {})}
    ok, line = check_expectation({**lesson, "quick": quick_sets} if quick_sets else lesson, result, quick)
    report = {"lesson": str(path.name), "title": lesson.get("title", ""), "quick": quick, "quick_overrides": quick_sets,
              "expect": lesson.get("quick_expect") if quick_sets else lesson.get("expect"),
              "full_expect": lesson.get("expect"), "anchor": lesson.get("anchor", ""), "met": ok, "line": line}
    write_json(Path(folder) / "lesson.json", report)
    _mark_runs(Path(folder), path.stem, quick_sets)
    from ..track.report import refresh_reports
    refresh_reports(Path(folder))  # report.html now shows the lesson's expectation and anchor
    print(json.dumps({k: v for k, v in result.items() if isinstance(v, (int, float, str))}, indent=1)
          if lesson["kind"] != "train" else "", end="")
    if line:
        print(f"\n{lesson.get('title', path.stem)}: {line}\nanchor: {lesson.get('anchor', '')}")
    return result, Path(folder), ok
