"""`dlp data fetch titanic|otto`: download a Kaggle competition's files with the official `kaggle` package.

The files are unpacked into the user cache (`<cache>/titanic`, `<cache>/otto`; `$DLP_CACHE_DIR` or
`~/.cache/dlpractice`), where the data sets look for them; data folders given by --data-dir or
$DLP_DATA_DIR are never written to. Kaggle needs two things this command cannot do for you: the
`kaggle` package (`pip install kaggle`) and your API token (kaggle.com → Settings → API → Create New
Token → ~/.kaggle/kaggle.json, or KAGGLE_USERNAME and KAGGLE_KEY in the environment), and you must
have accepted the competition's rules on its web page. Without them the command says so and exits 2.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from ..errors import UserError  # nothing that imports torch here: the CLI builds its parser on every call

COMPETITIONS = {
    "titanic": {"competition": "titanic", "folder": "titanic",
                "files": [["train.csv", "test.csv"]], "optional": ["gender_submission.csv"]},
    "otto": {"competition": "otto-group-product-classification-challenge", "folder": "otto",
             "files": [["train.csv", "test.csv"], ["train.csv.gz", "test.csv.gz"]],
             "optional": ["sampleSubmission.csv.gz", "sampleSubmission.csv"]},
}


def how_to_get(name: str) -> str:
    from .paths import cache_dir
    c = COMPETITIONS[name]
    return (f"It is a Kaggle competition: accept its rules at https://www.kaggle.com/c/{c['competition']}/rules, "
            f"then either run `dlp data fetch {name}` (needs `pip install kaggle` and your API token in "
            f"~/.kaggle/kaggle.json), or run `kaggle competitions download -c {c['competition']}` and unzip the "
            f"archive into {cache_dir() / c['folder']} (or <data-dir>/{c['folder']} with --data-dir DIR / "
            "$DLP_DATA_DIR).")


def credentials_found() -> str | None:
    """Where Kaggle credentials were found, or None."""
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME / KAGGLE_KEY"
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    folders = [Path(os.environ["KAGGLE_CONFIG_DIR"])] if os.environ.get("KAGGLE_CONFIG_DIR") else []
    folders.append(Path.home() / ".kaggle")
    for folder in folders:
        for name in ("kaggle.json", "access_token"):
            if (folder / name).is_file():
                return str(folder / name)
    return None


def _unpack(archive_dir: Path, into: Path) -> None:
    """Unzip every archive (and archives inside archives, as Otto's used to be) into `into`, flat."""
    todo = list(archive_dir.rglob("*.zip"))
    for p in archive_dir.rglob("*"):
        if p.is_file() and p.suffix != ".zip":
            shutil.copy2(p, into / p.name)
    while todo:
        z = todo.pop()
        try:
            with zipfile.ZipFile(z) as zf:
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    name = Path(info.filename).name  # flat: never write outside `into`
                    if not name or name.startswith("."):
                        continue
                    with zf.open(info) as src, open(into / name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    if name.endswith(".zip"):
                        todo.append(into / name)
        except zipfile.BadZipFile:
            raise UserError(f"the download {z.name} is not a valid zip archive; run the command again") from None
        if z.parent == into:
            z.unlink()


def fetch(name: str, dest: Path | None = None, force: bool = False) -> Path:
    """Download and unpack competition `name` into `dest` (default: the user cache); returns the folder."""
    from .paths import cache_dir
    comp = COMPETITIONS[name]
    dest = Path(dest) if dest else cache_dir() / comp["folder"]
    if not force and any(all((dest / f).is_file() for f in files) for files in comp["files"]):
        print(f"{name}: already in {dest} (use --force to download again)")
        return dest
    problems = []
    if importlib.util.find_spec("kaggle") is None:
        problems.append("the `kaggle` package is not installed: run `pip install kaggle`")
    if credentials_found() is None:
        problems.append("no Kaggle API credentials: create a token at https://www.kaggle.com/settings (API → "
                        "Create New Token) and save it as ~/.kaggle/kaggle.json (chmod 600), or set "
                        "KAGGLE_USERNAME and KAGGLE_KEY")
    if problems:
        raise UserError(f"cannot download '{name}' from Kaggle: " + "; ".join(problems) + ". " + " ".join(how_to_get(name).split()))
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
        api = KaggleApi()
        api.authenticate()
    except Exception as e:  # the kaggle package raises plain exceptions for bad or missing credentials
        raise UserError(f"the kaggle package could not authenticate: {e}") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{comp['folder']}-", dir=dest.parent) as tmp:
        download, unpacked = Path(tmp) / "download", Path(tmp) / "unpacked"
        download.mkdir()
        unpacked.mkdir()
        print(f"downloading {comp['competition']} from Kaggle ...", flush=True)
        try:
            api.competition_download_files(comp["competition"], path=str(download), quiet=False)
        except Exception as e:
            rules = f"https://www.kaggle.com/c/{comp['competition']}/rules"
            raise UserError(f"Kaggle refused the download of '{comp['competition']}': {e}; have you accepted the "
                            f"rules at {rules} with this account?") from None
        _unpack(download, unpacked)
        got = sorted(p.name for p in unpacked.iterdir())
        if not any(all(f in got for f in files) for files in comp["files"]):
            raise UserError(f"the Kaggle download of '{comp['competition']}' holds {got}, not the expected "
                            f"{' + '.join(comp['files'][-1])}")
        dest.mkdir(parents=True, exist_ok=True)
        for f in got:
            os.replace(unpacked / f, dest / f)
    print(f"{name}: {', '.join(got)} in {dest}")
    return dest
