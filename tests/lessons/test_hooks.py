"""Lesson TOMLs name registered hooks, never modules: every name resolves, an unknown one is refused
before anything runs, and a TOML cannot make `dlp` import or call anything else."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from dlpractice.errors import UserError
from dlpractice.lessons import HERE, lesson_hooks, run_lesson


def _lessons():
    for path in sorted(HERE.glob("*.toml")):
        lesson = tomllib.loads(path.read_text(encoding="utf-8")).get("lesson")
        if lesson:
            yield path, lesson


def test_every_lesson_names_a_registered_hook():
    entries, reports = lesson_hooks()
    named = 0
    for path, lesson in _lessons():
        for key, registry in (("entry", entries), ("report", reports)):
            if key in lesson:
                assert ":" not in lesson[key] and "." not in lesson[key], f"{path.name}: {key} names a module"
                assert lesson[key] in registry, f"{path.name}: {key} '{lesson[key]}' is not registered"
                named += 1
    assert named >= 20   # lectures 1–4, 8, 12 entries and the reports of 5–13, titanic, otto, the zoo


def test_each_hook_is_registered_once_by_the_lecture_module_holding_it():
    entries, reports = lesson_hooks()
    assert entries.get("lesson1").__module__ == "dlpractice.lessons.lecture01"
    assert reports.get("per_class").__module__ == "dlpractice.lessons.lecture13"
    assert reports.get("titanic_cv").__module__ == "dlpractice.lessons.lecture08"
    with pytest.raises(ValueError, match="already registered"):
        from dlpractice.lessons.hooks import report
        report("per_class")(lambda folder, result: {})


def _lesson_file(tmp_path: Path, hook: str) -> Path:
    p = tmp_path / "mine.toml"
    p.write_text('[lesson]\nkind = "train"\ntitle = "mine"\n' + hook + '\n\n[data]\ndataset = "digits"\n\n'
                 '[model]\nname = "mlp"\n\n[train]\nepochs = 1\n\n[log]\nprogress = false\n', encoding="utf-8")
    return p


def test_a_module_path_is_refused_before_anything_runs(tmp_path):
    victim = tmp_path / "run"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match=r"unknown lesson report 'shutil:rmtree'.*known: .*per_class"):
        run_lesson(_lesson_file(tmp_path, 'report = "shutil:rmtree"'), out=tmp_path / "out")
    assert (victim / "keep.txt").read_text() == "mine" and not (tmp_path / "out").exists()


def test_an_unknown_report_suggests_the_closest(tmp_path):
    with pytest.raises(UserError, match=r"did you mean 'per_class'"):
        run_lesson(_lesson_file(tmp_path, 'report = "per_clas"'), out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_unknown_entry_is_refused(tmp_path):
    p = tmp_path / "scratchy.toml"
    p.write_text('[lesson]\nkind = "scratch"\ntitle = "x"\nentry = "os:system"\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"unknown lesson entry 'os:system'.*known: .*lesson1"):
        run_lesson(p, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_registered_report_runs_from_a_users_toml(tmp_path):
    """One TOML naming an existing report: the digits MLP's per-class report, through the runner."""
    result, folder, _ = run_lesson(_lesson_file(tmp_path, 'report = "per_class"'), out=tmp_path / "out")
    assert (folder / "per_class.json").is_file() and 0.5 < result["balanced_accuracy"] <= 1.0
