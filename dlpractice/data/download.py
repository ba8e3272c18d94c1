"""Checked downloads: mirrors tried in order, streamed to a temp file, sha256-verified, renamed into place.

A file lands in its folder only whole and verified (`os.replace` of a temp file in the same folder), so
a file present there is trusted; nothing is ever written outside the destination folder.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ..errors import UserError

CHUNK = 1 << 16
TIMEOUT = 30.0  # seconds without progress (connect or read) before a mirror counts as failed


class _MirrorFailed(Exception):
    """One mirror did not deliver the file; the message says why (collected for the final error)."""


def mirrors_from_env(var: str, default: list[str]) -> list[str]:
    """Base URLs from the comma-separated environment variable `var`, else `default`; each ends in '/'."""
    raw = os.environ.get(var, "").strip()
    bases = [u.strip() for u in raw.split(",") if u.strip()] if raw else list(default)
    return [u if u.endswith("/") else u + "/" for u in bases]


def _check_name(filename: str) -> None:
    """A bare file name only: no folders, no '..', so the target stays inside dest_dir."""
    if (not filename or filename in (".", "..") or "/" in filename or "\\" in filename
            or os.sep in filename or (os.altsep and os.altsep in filename) or "\0" in filename):
        raise ValueError(f"download target must be a plain file name, got {filename!r}")


def _stream(url: str, out, timeout: float, label: str) -> tuple[str, int]:
    """Copy `url` into the open file `out`; return (sha256 hex, bytes). Raises _MirrorFailed."""
    h, got = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            expected = int(length) if length and length.strip().isdigit() else None
            bar = tqdm(total=expected, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                       leave=False, disable=not sys.stderr.isatty())
            with bar:
                while True:
                    block = resp.read(CHUNK)
                    if not block:
                        break
                    out.write(block)
                    h.update(block)
                    got += len(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as e:
        raise _MirrorFailed(f"server answered HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise _MirrorFailed(f"could not connect ({e.reason})") from None
    except http.client.IncompleteRead as e:
        raise _MirrorFailed(f"server closed the connection early, after {got + len(e.partial)} bytes") from None
    except (http.client.HTTPException, OSError) as e:  # reset, timeout, protocol errors
        raise _MirrorFailed(f"transfer failed after {got} bytes ({type(e).__name__}: {e})") from None
    # http.client does not raise when a server closes before Content-Length bytes: check it here.
    if expected is not None and got != expected:
        raise _MirrorFailed(f"server closed the connection after {got} of {expected} bytes")
    return h.hexdigest(), got


def fetch(filename: str, urls: list[str], sha256: str, dest_dir: Path, timeout: float = TIMEOUT,
          hint: str = "") -> Path:
    """Download `filename` into `dest_dir` from the first of `urls` (full file URLs) that delivers it
    whole with the given sha256; return its path.

    Each try streams into a temp file inside `dest_dir` (progress bar on a terminal), checks the
    Content-Length and the checksum, and renames the file into place atomically; a failed try
    deletes its temp file and moves on to the next URL. When every URL fails, raises UserError
    listing each URL and why it failed, followed by `hint`. A file already in place is returned as is.
    """
    _check_name(filename)
    dest_dir = Path(dest_dir)
    target = dest_dir / filename
    if target.is_file():
        return target
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the download folder {dest_dir} ({e}); set DLP_CACHE_DIR to a "
                        "writable folder") from None
    want = sha256.lower()
    failures: list[str] = []
    for url in urls:
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=dest_dir)
        except OSError as e:
            raise UserError(f"cannot write into the download folder {dest_dir} ({e}); set DLP_CACHE_DIR "
                            "to a writable folder") from None
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                digest, size = _stream(url, out, timeout, filename)
            if digest != want:
                raise _MirrorFailed(f"checksum did not match: got sha256 {digest} for {size} bytes, "
                                    f"expected {want}")
            os.replace(tmp, target)
            return target
        except _MirrorFailed as e:
            failures.append(f"{url}: {e}")
        finally:
            tmp.unlink(missing_ok=True)  # after a successful os.replace the temp name is already gone
    tried = "; ".join(failures) if failures else "(no URLs given)"
    raise UserError(f"could not download {filename} (sha256 {want}) into {dest_dir}; tried: {tried}."
                    + (f" {' '.join(hint.split())}" if hint else ""))


def ensure_files(folder: Path, files: dict[str, str], mirrors: list[str], timeout: float = TIMEOUT,
                 hint: str = "") -> dict[str, Path]:
    """Make sure each file of `files` (name → sha256) is in `folder`, downloading the missing ones from
    `mirrors` (base URLs, tried in order: `<base><name>`); return name → path.

    Files already in `folder` are trusted (only verified downloads are ever renamed into it).
    """
    bases = [m if m.endswith("/") else m + "/" for m in mirrors]
    return {name: fetch(name, [b + name for b in bases], sha, Path(folder), timeout, hint)
            for name, sha in files.items()}
