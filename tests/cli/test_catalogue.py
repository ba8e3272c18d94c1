"""`dlp models` and `dlp datasets` list from catalogue.json, which must say what the registries say; and every
listing answers without importing torch or scikit-learn (the import is what took 1.4–4 s)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dlpractice.cli import catalogue
from dlpractice.cli.listings import SHOW_DEPTH
from dlpractice.models.summary import DEPTH


def test_the_catalogue_is_the_registries():
    # built in a fresh process: other tests in this worker register their own data sets and models
    code = "import json; from dlpractice.cli import catalogue; print(json.dumps(catalogue.build()))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-500:]
    built, stored = json.loads(r.stdout), catalogue.read("models")
    assert catalogue.read("datasets") == built["datasets"], "run `make catalogue`: a data set changed"
    assert stored == built["models"], "run `make catalogue`: a model changed"
    assert SHOW_DEPTH == DEPTH


@pytest.mark.parametrize("listing", [["models"], ["datasets"], ["lessons"], ["lessons", "--all"], ["runs"],
                                     ["models", "--json"], ["--help"], ["train", "--help"]])
def test_listings_import_neither_torch_nor_sklearn(listing, tmp_path):
    code = ("import atexit, sys; atexit.register(lambda: print('HEAVY', sorted(m for m in ('torch', 'sklearn', "
            "'numpy', 'matplotlib') if m in sys.modules), file=sys.stderr)); from dlpractice.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, *listing], capture_output=True, text=True, cwd=tmp_path,
                       timeout=300)
    assert r.returncode == 0 and r.stdout, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "HEAVY []", r.stderr[-300:]
