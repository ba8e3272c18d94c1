"""Lessons run end to end on real data (their quick versions) and reach their figures."""
import json

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
    if meta["kind"] == "scratch":
        return
    for extra in [[], list(meta.get("quick", []))] + [v["set"] for v in doc.get("variants", [])]:
        cfg = load_config(path, extra)
        assert cfg.model.name in MODELS and cfg.data.dataset in DATASETS
