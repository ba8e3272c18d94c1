"""Lessons run end to end on real data (their quick versions) and reach their figures."""
import json
import re

import pytest

from dlpractice.lessons import lectures, run_lesson

from conftest import require_data


def test_index_lists_all_lectures():
    lecs = lectures()
    assert [lec["number"] for lec in lecs] == list(range(1, 14))
    assert all(lec["implemented"] for lec in lecs if lec["number"] in (1, 2, 3, 4, 10))


def test_demo_quick(tmp_path):
    result, folder, ok = run_lesson("demo", ["train.threads=1"], tmp_path / "demo", quick=True)
    assert result["test_accuracy"] >= 0.90  # 3 epochs; the full demo reaches ≥ 0.97
    assert json.loads((folder / "lesson.json").read_text())["quick"] is True


def test_lecture10_quick(tmp_path):
    result, folder, ok = require_data(lambda: run_lesson(10, ["train.threads=1"], tmp_path / "l10", quick=True))
    # two epochs on 6,000 images; the full lesson (10 epochs, 54,000 images) reaches ≥ 0.90
    assert result["test_accuracy"] >= 0.78
    assert (folder / "curves.png").stat().st_size > 10_000


def _lesson_files():
    from dlpractice.lessons import lesson_path
    return sorted(p.stem for p in lesson_path(1).parent.glob("*.toml") if p.stem != "index")


@pytest.mark.parametrize("lesson", _lesson_files())
def test_every_lesson_file_is_a_valid_config(lesson):
    """Each lesson TOML (its plain, quick and variant forms) loads as a config naming a registered model
    and data set, and states what the runner prints: a title and, where it checks a figure, the anchor."""
    from dlpractice.config import load_config, load_toml
    from dlpractice.data import DATASETS
    from dlpractice.lessons import lesson_path
    from dlpractice.models import MODELS
    path = lesson_path(lesson)
    doc = load_toml(path)
    meta = doc["lesson"]
    assert meta["title"] and meta["kind"] in ("train", "compare", "cv", "scratch")
    if "expect" in meta:
        assert meta.get("anchor"), f"{lesson}: an expectation without its anchor"
    # anchors speak to learners (the course, a paper, a book, a benchmark), not to this project's tracker
    assert not re.search(r"\bissue \d", meta.get("anchor", "")), meta["anchor"]
    if "quick_expect" in meta:
        assert meta.get("quick") and meta["quick_expect"]["metric"], lesson
    if meta["kind"] == "scratch":
        return
    for extra in [[], list(meta.get("quick", []))] + [v["set"] for v in doc.get("variants", [])]:
        cfg = load_config(path, extra)
        assert cfg.model.name in MODELS and cfg.data.dataset in DATASETS


def test_a_quick_run_is_labelled_and_judged_by_its_own_expectation(tmp_path):
    from dlpractice.lessons import _as_run, _mark_runs, check_expectation
    # the quick settings as the run gets them: a --set of the same key is said with the user's value
    assert _as_run(["train.epochs=2", "data.limit_train=6000"], ["train.epochs = 3", "optim.lr=0.1"]) == \
        ["train.epochs = 3", "data.limit_train=6000"]
    lesson = {"expect": {"metric": "test_accuracy", "min": 0.9}, "quick": ["train.epochs=2"]}
    ok, line = check_expectation(lesson, {"test_accuracy": 0.784}, quick=True)
    assert ok is None and "MISSES" not in line
    assert line == ("quick run (train.epochs=2): test_accuracy = 0.784, a first look; the full lesson (without "
                    "--quick) expects ≥ 0.9")
    ok, line = check_expectation({**lesson, "quick_expect": {"metric": "test_accuracy", "min": 0.75}},
                                 {"test_accuracy": 0.784}, quick=True)
    assert ok is True and "meets the quick run's expectation ≥ 0.75" in line and line.startswith("quick run")
    assert check_expectation(lesson, {"test_accuracy": 0.784})[0] is False        # the full run: judged in full
    # a lesson without quick overrides runs the same either way: its expectation holds for --quick too
    assert check_expectation({"expect": lesson["expect"]}, {"test_accuracy": 0.95}, quick=True) == \
        (True, "test_accuracy = 0.95 (meets the expectation ≥ 0.9)")
    for run in (tmp_path, tmp_path / "variant"):
        run.mkdir(exist_ok=True)
        (run / "summary.json").write_text(json.dumps({"model": "m"}))
    _mark_runs(tmp_path, "lecture10", ["train.epochs=2"])
    for run in (tmp_path, tmp_path / "variant"):
        assert json.loads((run / "summary.json").read_text()) == {"model": "m", "lesson": "lecture10", "quick": True,
                                                                  "quick_overrides": ["train.epochs=2"]}
