"""Locating (or fetching) Tiny Shakespeare at <data_dir>/tinyshakespeare/input.txt."""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path

from annealbench.data.prepare import prepare
from annealbench.errors import DataError
from annealbench.store import atomic_write_bytes

FOLDER = "tinyshakespeare"
FILE = "input.txt"
URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
# Digest of the original 1,115,394-character file, so a download is known to be that corpus.
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


def tinyshakespeare_path(data_dir: Path) -> Path:
    return Path(data_dir) / FOLDER / FILE


def _fetch(dest: Path) -> None:
    with urllib.request.urlopen(URL, timeout=10) as response:
        body = response.read()
    digest = hashlib.sha256(body).hexdigest()
    if digest != SHA256:
        raise OSError(f"downloaded file has sha256 {digest[:12]}..., expected {SHA256[:12]}...")
    atomic_write_bytes(dest, body, fault=None)


def locate_tinyshakespeare(data_dir: Path, *, download: bool, fetch=_fetch) -> Path:
    """The corpus's path, downloaded (``fetch``) by one process under the data folder's lock while
    any others wait."""
    path = tinyshakespeare_path(data_dir)
    hint = f"put Tiny Shakespeare at {path} (point --data-dir or ANNEALBENCH_DATA at {Path(data_dir)})"

    def ready() -> bool:
        if path.is_file():
            return True
        if not download:
            raise DataError(f"no {path}; {hint}")
        return False

    def build() -> None:
        try:
            fetch(path)  # an atomic write: a reader never sees half a file
        except Exception as exc:  # noqa: BLE001 - network, HTTP and checksum failures all mean "not here"
            reason = " ".join(str(exc).split())[:160]
            raise DataError(f"no {path} and download from {URL} failed ({reason}); {hint}") from exc

    prepare(data_dir, "tinyshakespeare", ready, build)
    return path
