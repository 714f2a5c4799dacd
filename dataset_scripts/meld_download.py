"""Fetch MELD's three public text-annotation CSVs (no clips) into a local cache, verified and written atomically.

The files are `data/MELD/{train,dev,test}_sent_emo.csv` of the MELD repository (github.com/declare-lab/MELD),
distributed under that repository's licence, **GPL-3.0** (`MELD_LICENSE`); the utterances are transcripts of the
*Friends* TV series, published for research. Nothing is fetched at import time: only `download_meld_csvs` reaches
the network, and only when asked (`emoje-demo` calls it when no local copy is found).

Each file is downloaded with a timeout to a temporary file beside its target, checked (it decodes, its header has
the MELD columns `dataset_scripts.meld` reads, and it has rows), then renamed into place, so an interrupted or
wrong download never leaves a file that looks complete.

Example:
    >>> from dataset_scripts.meld_download import meld_csv_urls
    >>> meld_csv_urls()["test_sent_emo.csv"]
    'https://raw.githubusercontent.com/declare-lab/MELD/master/data/MELD/test_sent_emo.csv'
"""

from __future__ import annotations

import csv
import io
import os
import urllib.error
import urllib.request
from pathlib import Path

from .files import open_atomic
from .meld import MELD_COLUMNS, MELD_FILES, read_csv_text

MELD_BASE_URL = "https://raw.githubusercontent.com/declare-lab/MELD/master/data/MELD/"
MELD_REPOSITORY = "https://github.com/declare-lab/MELD"
MELD_LICENSE = "GPL-3.0"
DOWNLOAD_TIMEOUT_SECONDS = 30.0
# Environment variables that forbid fetching data (the datasets library's offline switch, and our own).
OFFLINE_VARIABLES = ("HF_DATASETS_OFFLINE", "EMOJE_OFFLINE")


class MeldDownloadError(RuntimeError):
    """A MELD CSV could not be fetched or is not a MELD annotation file (the message names the URL and why)."""


def default_meld_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/emoje/meld` (`~/.cache/emoje/meld`), beside the feature cache."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser()
    return base / "emoje" / "meld"


def download_allowed() -> bool:
    """False when `HF_DATASETS_OFFLINE` or `EMOJE_OFFLINE` is set to a true value (1, true, yes, on)."""
    return not any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on") for name in OFFLINE_VARIABLES)


def meld_csv_urls(base_url: str = MELD_BASE_URL) -> dict[str, str]:
    """File name -> URL of each official CSV under ``base_url`` (any scheme urllib opens, e.g. ``file://``)."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    return {name: base + name for name in MELD_FILES.values()}


def has_meld_csvs(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds the three official CSV files."""
    return all((Path(folder) / name).is_file() for name in MELD_FILES.values())


def has_valid_meld_csvs(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds the three official CSV files and each passes `check_meld_csv`."""
    try:
        return has_meld_csvs(folder) and all(check_meld_csv(Path(folder) / name) for name in MELD_FILES.values())
    except ValueError:
        return False


def check_meld_csv(path: Path) -> int:
    """Raise ValueError unless ``path`` is a MELD annotation CSV (MELD header columns, at least one row); returns
    the number of data rows."""
    text, _ = read_csv_text(path)
    rows = csv.reader(io.StringIO(text, newline=""))
    header = [column.strip() for column in next(rows, [])]
    absent = [column for column in MELD_COLUMNS if column not in header]
    if absent:
        raise ValueError(f"header lacks the MELD columns {absent} (starts with {text[:80]!r})")
    count = sum(1 for row in rows if any(value.strip() for value in row))
    if count == 0:
        raise ValueError("no utterance rows after the header")
    return count


def _fetch_to(url: str, target: Path, timeout: float) -> None:
    """Download ``url`` to ``target`` atomically (temporary file in the same folder, checked, then renamed)."""
    try:
        with open_atomic(target) as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(1 << 16):
                out.write(chunk)
            out.flush()
            check_meld_csv(Path(out.name))  # before it replaces anything
    except (OSError, urllib.error.URLError, ValueError) as error:
        raise MeldDownloadError(f"could not fetch MELD's {target.name} from {url}: {type(error).__name__}: {error}") from error


def download_meld_csvs(
    target: str | os.PathLike | None = None, base_url: str = MELD_BASE_URL, timeout: float = DOWNLOAD_TIMEOUT_SECONDS
) -> Path:
    """Make ``target`` (default `default_meld_cache_dir`) hold the three MELD CSVs and return it.

    Files already there that pass `check_meld_csv` are kept; the others are fetched from ``base_url``. Raises
    `MeldDownloadError` (naming the URL and the reason) when a file cannot be fetched or is not a MELD CSV.
    """
    folder = Path(target) if target is not None else default_meld_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for name, url in meld_csv_urls(base_url).items():
        path = folder / name
        if path.is_file():
            try:
                check_meld_csv(path)
                continue
            except ValueError:
                pass  # a damaged copy: fetch it again
        _fetch_to(url, path, timeout)
    return folder


__all__ = [
    "DOWNLOAD_TIMEOUT_SECONDS",
    "MELD_BASE_URL",
    "MELD_LICENSE",
    "MELD_REPOSITORY",
    "MeldDownloadError",
    "check_meld_csv",
    "default_meld_cache_dir",
    "download_allowed",
    "download_meld_csvs",
    "has_meld_csvs",
    "has_valid_meld_csvs",
    "meld_csv_urls",
]
