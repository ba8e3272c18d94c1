"""The layer rule (docs/ARCHITECTURE.md): every import inside the package goes down the table, never up
or sideways. When this fails, move the code to the layer it belongs to; do not bend the table."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dlpractice"

# Top-level module or package of dlpractice → its level. `__init__` is the package root: it holds
# `__version__` and a lazy facade (`dlpractice.train(cfg)`, `dlpractice.load_config`) whose names are
# looked up on first use, never imported at module level.
LEVELS = {
    "__init__": 0, "errors": 0, "registry": 0, "config": 0, "fields": 0,
    "data": 1, "models": 1, "scratch": 1,
    "inputs": 2, "runs": 2,
    "track": 3,
    "train": 4, "serve": 4,
    "lessons": 5,
    "cli": 6, "__main__": 7,
}
BASE = {"__init__", "errors", "registry", "config", "fields"}  # one layer: they may import each other
# The one sideways edge: `runs.Predictor.predict` turns a user's inputs into a batch by the run's input kind.
ALSO = {("runs", "inputs")}


def _unit(module: str) -> str:
    """dlpractice.data.tabular → 'data'; dlpractice → '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_of(path: Path) -> tuple[str, bool]:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    is_pkg = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_pkg else parts), is_pkg


def _submodule(package: str, name: str) -> str:
    """`from package import name`: the submodule package.name if there is one, else package itself."""
    path = PACKAGE.parent.joinpath(*package.split("."), name)
    return f"{package}.{name}" if path.is_dir() or path.with_suffix(".py").is_file() else package


def package_imports():
    """(file, line, importing module, imported module) for every import of a dlpractice module,
    at module level and inside functions alike."""
    for path in sorted(PACKAGE.rglob("*.py")):
        module, is_pkg = _module_of(path)
        here = module.split(".") if is_pkg else module.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[:len(here) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                # `from . import x` imports the submodule x (or a name of the package); `from .a import b`, module a
                targets = [_submodule(source, a.name) for a in node.names]
            else:
                continue
            for target in targets:
                if target == "dlpractice" or target.startswith("dlpractice."):
                    yield path, node.lineno, module, target


def allowed(src: str, dst: str) -> bool:
    a, b = _unit(src), _unit(dst)
    if a == b or (a in BASE and b in BASE) or (a, b) in ALSO:
        return True
    return a in LEVELS and b in LEVELS and LEVELS[b] < LEVELS[a]


def test_every_unit_has_a_level():
    units = {_unit(_module_of(p)[0]) for p in PACKAGE.rglob("*.py")}
    assert not units - set(LEVELS), f"give these a level in LEVELS and docs/ARCHITECTURE.md: {units - set(LEVELS)}"


def test_imports_go_down_only():
    bad = [f"{path.relative_to(PACKAGE.parent)}:{line}: {src} imports {dst} "
           f"({_unit(src)} is level {LEVELS.get(_unit(src))}, {_unit(dst)} is level {LEVELS.get(_unit(dst))})"
           for path, line, src, dst in package_imports() if not allowed(src, dst)]
    assert not bad, "imports against the layer table:\n" + "\n".join(bad)


def test_the_walker_sees_function_level_imports():
    found = {(src, dst) for _, _, src, dst in package_imports()}
    # cli.main imports the command groups inside functions; the walker must see them
    assert any(_unit(s) == "cli" and _unit(d) == "train" for s, d in found)
    assert allowed("dlpractice.train.loop", "dlpractice.runs.tasks")
    assert not allowed("dlpractice.data.tabular", "dlpractice.serve.http")   # up
    assert not allowed("dlpractice.train.loop", "dlpractice.serve.http")     # sideways
    assert not allowed("dlpractice.data.tabular", "dlpractice.models.rnn")   # sideways


def test_no_file_over_400_lines():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, f"split these files by what they hold: {long}"
