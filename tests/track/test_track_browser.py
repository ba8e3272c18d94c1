"""Watching a real run in a real headless Chromium: visdom (served offline), TensorBoard's page and
report.html show exactly the numbers of the run's metrics.csv, ask no host but 127.0.0.1 (or the file
itself) for anything, and raise no JavaScript error. Screenshots go to test-artifacts/."""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from conftest import ARTIFACTS
from dlpractice.config import load_config
from dlpractice.runs.metrics import read_metrics
from dlpractice.track.style import mpl_style
from dlpractice.train.loop import train

CHROMIUM = os.environ.get("DLP_CHROMIUM", "/usr/bin/chromium")
EPOCHS = 3
# Waits sized for a machine whose cores are busy with other jobs; each one polls and ends when it holds.
WAIT_MS = 120_000   # any one wait of a page (load, a selector, the plots drawn)
START_S = 240       # a server answering after its start


def _missing(what: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} missing under CI")
    pytest.skip(f"{what} missing")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("python playwright")
    if not Path(CHROMIUM).exists():
        _missing(f"chromium at {CHROMIUM}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    """A visdom server and TensorBoard on a fresh runs folder, then one real digits run logged to both."""
    from dlpractice.track.board import free_port, start_tensorboard, start_visdom, stop
    from dlpractice.track.visdom_assets import INSTALL_COMMAND, missing
    if missing():
        if os.environ.get("CI") == "true":
            pytest.fail(f"visdom's scripts are not installed under CI; run `{INSTALL_COMMAND}`")
        pytest.skip(f"visdom's scripts are not installed; run `{INSTALL_COMMAND}`")
    root = tmp_path_factory.mktemp("watch")
    runs = root / "runs"
    runs.mkdir()
    vis, vis_url = start_visdom(free_port(), root / "visdom-envs", timeout=START_S)
    tb = None
    old = os.environ.get("DLP_VISDOM")
    os.environ["DLP_VISDOM"] = vis_url
    try:
        tb, tb_url = start_tensorboard(runs, free_port(), timeout=START_S)
        cfg = load_config(overrides=["data.dataset=digits", f"train.epochs={EPOCHS}", "log.progress=false",
                                     "log.loggers=['csv', 'tensorboard', 'visdom']"])
        folder = train(cfg, out=runs / "digits-watched").folder
        yield {"folder": folder, "visdom": vis_url, "tensorboard": tb_url}
    finally:
        if old is None:
            os.environ.pop("DLP_VISDOM", None)
        else:
            os.environ["DLP_VISDOM"] = old
        for proc in (vis, tb):
            if proc is not None:
                stop(proc)   # its whole process group, waited for


def _page(browser, allowed: set[str]):
    """A page that records requests leaving the allowed hosts/schemes and every JS or console error."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(WAIT_MS)
    seen = {"outside": [], "errors": []}

    def on_request(r):
        u = urlparse(r.url)
        if u.scheme not in ("data", "blob") and (u.hostname or u.scheme) not in allowed:
            seen["outside"].append(r.url)

    page.on("request", on_request)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    return page, seen


def _csv(folder: Path, metric: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for r in read_metrics(folder):
        out.setdefault(r["split"], []).append(r[metric])
    return out


def _tensorboard_texts(value: float) -> set[str]:
    """How TensorBoard's page may write a float32 scalar: 4 significant digits or at most 4 decimals,
    trailing zeros dropped (d3's ".4~r", Intl's maximumFractionDigits: 4); which one depends on the
    value's size, and the 4th digit on the float32 the run's CPU kernels produced, so compute both."""
    v = float(np.float32(value))
    return {f"{v:.4g}", f"{v:.4f}".rstrip("0").rstrip(".")}


def test_visdom_offline_shows_the_runs_loss(browser, watched):
    folder = watched["folder"]
    page, seen = _page(browser, {"127.0.0.1"})
    page.goto(f"{watched['visdom']}/env/{folder.name}")
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=WAIT_MS)
    plots = page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => ({
        title: (d.layout.title && (d.layout.title.text || d.layout.title)) || '',
        traces: d.data.map(t => ({name: t.name, x: Array.from(t.x), y: Array.from(t.y)}))}))""")
    loss = next(p for p in plots if p["title"].startswith("loss"))
    csv = _csv(folder, "loss")
    assert {t["name"] for t in loss["traces"]} == {"train", "val", "test"}
    for t in loss["traces"]:
        assert t["x"] == list(range(1, EPOCHS + 1))
        assert t["y"] == csv[t["name"]]       # the exact floats of metrics.csv, read from the page
    acc = next(p for p in plots if p["title"].startswith("accuracy"))
    assert next(t for t in acc["traces"] if t["name"] == "val")["y"] == _csv(folder, "accuracy")["val"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "visdom.png"))
    assert seen["outside"] == [], seen["outside"]
    assert seen["errors"] == [], seen["errors"]
    page.close()


def test_tensorboard_scalars_page_shows_the_runs_loss(browser, watched):
    folder = watched["folder"]
    page, seen = _page(browser, {"127.0.0.1"})
    series: dict[str, dict] = {}

    def on_response(r):
        if r.url.endswith("/plugin/timeseries/timeSeries") and r.ok:
            for item in r.json():
                series[item["tag"]] = item["runToSeries"]

    page.on("response", on_response)
    page.goto(f"{watched['tensorboard']}/#timeseries")
    page.fill("input[placeholder='Filter tags (regex)']", "^loss/")   # the loss cards in view: they load
    deadline = time.monotonic() + WAIT_MS / 1000                        # their series as the page draws them
    while not {"loss/train", "loss/val", "loss/test"} <= set(series) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert {"loss/train", "loss/val", "loss/test"} <= set(series), f"TensorBoard sent only {sorted(series)}"
    csv = _csv(folder, "loss")
    for split in ("train", "val", "test"):
        points = series[f"loss/{split}"][folder.name]
        assert [p["step"] for p in points] == list(range(1, EPOCHS + 1))
        # TensorBoard keeps scalars as float32: equal to the CSV's float64 rounded to float32
        assert [np.float32(p["value"]) for p in points] == [np.float32(v) for v in csv[split]]
    # and the rendered cards: each one's data table shows the last epoch's value, as TensorBoard rounds it
    page.keyboard.press("Escape")
    shown = {s: _tensorboard_texts(csv[s][-1]) for s in ("train", "val", "test")}
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        text = page.evaluate("() => document.body.innerText")
        left = {s: v for s, v in shown.items() if not any(re.search(rf"(?<![\d.]){re.escape(t)}(?!\d)", text)
                                                          for t in v)}
        if not left or time.monotonic() > deadline:
            break
        page.wait_for_timeout(500)
    assert not left, f"the cards do not show {left}"
    page.wait_for_timeout(1000)   # the chart worker draws the lines a moment after the table
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tensorboard.png"))
    assert seen["outside"] == [], seen["outside"]
    assert seen["errors"] == [], seen["errors"]
    page.close()


def test_report_html_is_self_contained_and_exact(browser, watched, tmp_path):
    # a copy in a folder of its own: the page must not need anything beside it
    folder = tmp_path / "copy"
    shutil.copytree(watched["folder"], folder, ignore=shutil.ignore_patterns("events.*"))
    from dlpractice.track.report import write_report
    write_report(folder, figures=True)   # as `dlp report RUN` does: per_class.json and the figures first
    shutil.rmtree(folder / "checkpoints")
    page, seen = _page(browser, {"file"})
    page.goto((folder / "report.html").as_uri())
    points = page.evaluate("""() => Array.from(document.querySelectorAll('svg.chart[data-metric="loss"] circle.pt'))
        .map(c => [c.dataset.split, +c.dataset.epoch, parseFloat(c.dataset.value)])""")
    csv = _csv(folder, "loss")
    for split in ("train", "val", "test"):
        assert [v for s, _, v in points if s == split] == csv[split]
        assert [e for s, e, _ in points if s == split] == list(range(1, EPOCHS + 1))
    final = page.evaluate("() => document.querySelector('#final td[data-metric=\"accuracy\"]').textContent")
    summary = json.loads((folder / "summary.json").read_text())
    assert final == f"{summary['metrics']['accuracy']:.4f}"
    assert page.locator("#overfitting").inner_text().startswith(("No sign", "Overfitting", "Only"))
    assert f"epoch {summary['best_epoch']} of {EPOCHS}" in page.locator("#checkpoint").inner_text()
    assert page.evaluate("() => document.scripts.length") == 0
    # the per-class table is on the page, one row per digit, with the figures of per_class.json
    per_class = json.loads((folder / "per_class.json").read_text())
    cells = page.evaluate("""() => Array.from(document.querySelectorAll('#per-class tr[data-class]'))
        .map(r => [r.dataset.class, r.cells[2].textContent])""")
    assert sorted(c for c, _ in cells) == sorted(per_class["per_class"])
    assert all(acc == f"{100 * per_class['per_class'][c]['accuracy']:.1f}%" for c, acc in cells)
    # a classifier's config shows no [gan] section; validation is drawn in the colour curves.png gives it
    config = page.locator("#config").inner_text()
    assert "[gan" not in config and "[train]" in config and "[gan]" in (folder / "config.toml").read_text()
    strokes = page.evaluate("""() => Object.fromEntries(['train', 'val', 'test'].map(s => [s,
        getComputedStyle(document.querySelector(`svg.chart[data-metric="loss"] circle.pt[data-split="${s}"]`)).fill]))""")
    from matplotlib.colors import to_rgb
    from matplotlib.image import imread
    png = imread(folder / "curves.png")[..., :3]
    for split, fill in strokes.items():
        want = to_rgb(mpl_style(split)[0])
        assert fill == "rgb({}, {}, {})".format(*(round(255 * c) for c in want)), (split, fill)
        assert (np.abs(png - np.array(want)).max(axis=-1) < 0.02).sum() > 50, f"{split} colour not in curves.png"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert seen["outside"] == [], seen["outside"]
    assert seen["errors"] == [], seen["errors"]
    page.close()
