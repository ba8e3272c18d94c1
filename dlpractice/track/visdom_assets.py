"""Set-up-time installer of visdom's browser scripts from the npm registry, pinned and hash-checked.

`python -m visdom.server` downloads React, Plotly, jQuery, Bootstrap, d3 and MathJax from CDNs at its first
start and hangs or shows a blank page without them (fossasia/visdom#738, #705, #942). Every one of those
files is also published on the npm registry, so this module fetches them once with the `npm` client
(`npm pack pkg@version`), checks each tarball's sha512 against the value pinned below, and extracts the
files under the names visdom 0.2.4 expects (`visdom/server/build.py: download_scripts`) into visdom's own
`static/` folder. It also writes visdom's `version.built` marker, so even a plain `python -m visdom.server`
finds everything present and never goes to the network. Run once at install time:

    .venv/bin/python -m dlpractice.track.visdom_assets
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from ..errors import UserError

VISDOM_VERSION = "0.2.4"  # the asset list below is visdom 0.2.4's build.py; another version may need others
INSTALL_COMMAND = ".venv/bin/python -m dlpractice.track.visdom_assets"

# (npm package, exact version, sha512 integrity of its tarball, {file in the tarball: path under static/}).
# cdn.plot.ly's plotly-2.11.1.min.js is the same build as plotly.js-dist-min 2.11.1; d3js.org's d3.v3.min.js
# is the last v3 release, 3.5.17.
PACKAGES = [
    ("jquery", "3.1.1", "sha512-zuiWRmx65Kd1oFGdWLvAjbsumdOBFvs3r1vuqCyKFF79R7exBHNbiNEJ8LR+xkzgfxqBznMD/4Cv6PHXS6mvEw==",
     {"dist/jquery.min.js": "js/jquery.min.js"}),
    ("bootstrap", "3.3.7", "sha512-qcFaisBrcBhTFkz1IUnGDYnX6ZWfFzH8zOixUDtHW9Ip+r+7MfMFav2rzy7cIHc7rgIg7xjhWBoo1mS/U26j4g==",
     {"dist/js/bootstrap.min.js": "js/bootstrap.min.js",
      "dist/css/bootstrap.min.css": "css/bootstrap.min.css",
      **{f"dist/fonts/glyphicons-halflings-regular.{ext}": f"fonts/glyphicons-halflings-regular.{ext}"
         for ext in ("eot", "woff2", "woff", "ttf", "svg")},
      # build.py's name for the SVG font keeps the URL fragment; the browser asks for the plain .svg above
      "dist/fonts/glyphicons-halflings-regular.svg#": "fonts/glyphicons-halflings-regular.svg#glyphicons_halflingsregular"}),
    ("react", "16.2.0", "sha512-ZmIomM7EE1DvPEnSFAHZn9Vs9zJl5A9H7el0EGTE6ZbW9FKe/14IYAlPbC8iH25YarEQxZL+E8VW7Mi7kfQrDQ==",
     {"umd/react.production.min.js": "js/react-react.min.js"}),
    ("react-dom", "16.2.0", "sha512-zpGAdwHVn9K0091d+hr+R0qrjoJ84cIBFL2uU60KvWBPfZ7LPSrfqviTxGHWN0sjPZb2hxWzMexwrvJdKePvjg==",
     {"umd/react-dom.production.min.js": "js/react-dom.min.js"}),
    ("react-modal", "3.1.10", "sha512-7b77AGWCkdg0YOf/qcYIGCpuwbxRwOA8P3UrUovk4grUNv+idOmHovJAx/Dcd3fuwHtgixxVjpcjVG60985MSA==",
     {"dist/react-modal.min.js": "js/react-modal.min.js"}),
    ("plotly.js-dist-min", "2.11.1", "sha512-F9WWNht0D3yBLZGHbLoJNfvplXvy+GUPSsA/lCbMuYd/UwzSu6Vmyprxlps9Einw1LDS1hYBrJeioK0lE3ieXA==",
     {"plotly.min.js": "js/plotly-plotly.min.js"}),
    ("sjcl", "1.0.7", "sha512-xQbiwKfiAj6vyk44ANJ5RRymALRdRZOuRoKNYkWUU404p/RFXmMaay1Z5vRn30GJjkD+psox4Jd38jZojSuNYA==",
     {"sjcl.js": "js/sjcl.js"}),
    ("layout-bin-packer", "1.4.0", "sha512-dQOZnajbOBGIcS9YlzKrkRtMCGa2oEpyf1zGRn93suphSvPclJe54Sbgtb053GJ21DUk84IBzaeQvjn+Gb10fA==",
     {"dist/layout-bin-packer.js": "js/layout_bin_packer.js",
      "dist/layout-bin-packer.js.map": "js/layout-bin-packer.js.map"}),
    ("d3", "3.5.17", "sha512-yFk/2idb8OHPKkbAL8QaOaqENNoMhIaSHZerk3oQsECwkObkCpJyjYwCe+OHiq6UEdhe1m8ZGARRRO3ljFjlKg==",
     {"d3.min.js": "js/d3.v3.min.js"}),
    ("d3-selection-multi", "1.0.1", "sha512-mEnRkJ6A+Otd1LuRPV3az+s/RLDmIEhuz/MnT21O2nPcWNH7wZotdIlRjMA4Wpr+n7AESQ5fD8v1J3nL2Mnw9g==",
     {"build/d3-selection-multi.js": "js/d3-selection-multi.v1.js"}),
    ("save-svg-as-png", "1.4.17", "sha512-7QDaqJsVhdFPwviCxkgHiGm9omeaMBe1VKbHySWU6oFB2LtnGCcYS13eVoslUgq6VZC6Tjq/HddBd1K6p2PGpA==",
     {"lib/saveSvgAsPng.js": "js/saveSvgAsPng.js"}),
    ("react-resizable", "1.4.6", "sha512-4zLORO51u0/mlDsrVCAA4p266d+3mb2ZMNdiWOotAh/PdnfrRzZhgePmKE08PSQatXVIfMjmyD+Sapay8tmxdQ==",
     {"css/styles.css": "css/react-resizable-styles.css"}),
    ("react-grid-layout", "0.16.3", "sha512-ytP92EqUjqcFhGzvdeKrK610dQ04GdFwRCWtD6PoeL5wR3liETcFISO7k8RBqnosV86JtXf/DwIfrL0COLs0gg==",
     {"css/styles.css": "css/react-grid-layout-styles.css"}),
    ("classnames", "2.2.5", "sha512-DTt3GhOUDKhh4ONwIJW4lmhyotQmV2LjNlGK/J2hkwUcqcbKkCLAdJPtxQnxnlc7SR3f1CEXCyMmc7WLUsWbNA==",
     {"index.js": "fonts/classnames"}),
    # MathJax loads its own config, extensions, output jax and TeX fonts at run time, so the whole tree
    # goes in (without the 19 MB `unpacked/` sources, the tests and the fonts of other typefaces).
    ("mathjax", "2.7.5", "sha512-OzsJNitEHAJB3y4IIlPCAvS0yoXwYjlo2Y4kmm9KQzyIBZt2d8yKRalby3uTRNN4fZQiGL2iMXjpdP1u2Rq2DQ==",
     {"/": "js/mathjax/2.7.5/"}),
]
MATHJAX_KEEP = ("MathJax.js", "config/", "extensions/", "jax/", "localization/", "fonts/HTML-CSS/TeX/")

# The files visdom's page needs before it can draw anything (static/index.html), checked by `dlp board`.
REQUIRED = ["css/bootstrap.min.css", "js/jquery.min.js", "js/bootstrap.min.js", "css/react-resizable-styles.css",
            "css/react-grid-layout-styles.css", "js/react-react.min.js", "js/react-dom.min.js",
            "js/layout_bin_packer.js", "js/mathjax/2.7.5/MathJax.js",
            "js/mathjax/2.7.5/config/TeX-AMS-MML_HTMLorMML.js", "js/plotly-plotly.min.js", "js/d3.v3.min.js",
            "js/d3-selection-multi.v1.js", "js/saveSvgAsPng.js"]


def static_dir() -> Path:
    """visdom's own static folder (where its server looks for scripts), without importing visdom."""
    import importlib.util
    spec = importlib.util.find_spec("visdom")
    if spec is None or spec.origin is None:
        raise UserError("the visdom package is not installed; install it with `.venv/bin/pip install visdom==0.2.4`")
    return Path(spec.origin).parent / "static"


def missing(static: Path | None = None) -> list[str]:
    """The required files that are not in visdom's static folder yet."""
    static = static or static_dir()
    return [f for f in REQUIRED if not (static / f).is_file()]


def integrity(data: bytes) -> str:
    """npm's Subresource-Integrity string (sha512, base64) of a tarball."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _pack(name: str, version: str, workdir: Path) -> bytes:
    """Fetch one tarball with the npm client (it knows the registry and any proxy the user set)."""
    npm = shutil.which("npm")
    if npm is None:
        raise UserError("the `npm` client is needed to install visdom's scripts; install Node.js/npm "
                        f"(e.g. `apt-get install npm`), then run `{INSTALL_COMMAND}`")
    p = subprocess.run([npm, "pack", f"{name}@{version}", "--silent"], cwd=workdir, capture_output=True,
                       text=True, timeout=600)
    if p.returncode != 0:
        raise UserError(f"`npm pack {name}@{version}` failed: {(p.stderr or p.stdout).strip()[-300:]}")
    return (workdir / p.stdout.strip().splitlines()[-1]).read_bytes()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _extract(data: bytes, files: dict[str, str], static: Path) -> int:
    n = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = {m.name.removeprefix("package/"): m for m in tar.getmembers() if m.isfile()}
        for src, dst in files.items():
            if src == "/":  # a whole package tree (MathJax), filtered to what the page loads
                for name, m in members.items():
                    if name.startswith(MATHJAX_KEEP) and ".." not in name:
                        _write(static / dst / name, tar.extractfile(m).read())
                        n += 1
                continue
            m = members.get(src.rstrip("#"))
            if m is None:
                raise UserError(f"{src} is not in the npm tarball; the pinned package list is wrong")
            _write(static / dst, tar.extractfile(m).read())
            n += 1
    return n


def install(static: Path | None = None, quiet: bool = False) -> Path:
    """Fetch, verify and extract every asset into visdom's static folder; returns that folder."""
    static = static or static_dir()
    with tempfile.TemporaryDirectory(prefix="dlp-visdom-") as tmp:
        for name, version, pinned, files in PACKAGES:
            data = _pack(name, version, Path(tmp))
            got = integrity(data)
            if got != pinned:
                raise UserError(f"{name}@{version} from npm has integrity {got}, expected the pinned {pinned}; "
                                "refusing to install it")
            n = _extract(data, files, static)
            if not quiet:
                print(f"{name}@{version}: {n} file(s) verified and installed", flush=True)
    try:  # the marker that stops visdom's own start-up from downloading again
        from visdom import __version__ as built
    except ImportError:
        built = VISDOM_VERSION
    (static / "version.built").write_text(built)
    left = missing(static)
    if left:
        raise UserError(f"still missing after install: {', '.join(left)}")
    return static


def main() -> int:
    try:
        folder = install()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"visdom's scripts are in {folder}; `dlp board --visdom` now works offline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
