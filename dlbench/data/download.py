"""Downloading dataset files into the cache, each verified by its md5 before it is kept."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from dlbench.errors import DataError


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(url: str, target: Path, md5: str) -> Path:
    """``url`` saved as ``target`` if its md5 matches; nothing is left behind otherwise."""
    if target.is_file() and md5sum(target) == md5:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            shutil.copyfileobj(resp, out)
        if (got := md5sum(Path(tmp))) != md5:
            raise DataError(f"checksum mismatch for {url}: md5 {got}, expected {md5}")
        os.replace(tmp, target)
    except OSError as e:
        raise DataError(f"cannot download {url}: {e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
