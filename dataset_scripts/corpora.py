"""The corpus registry: every corpus the package knows, declared once, at the end of its own module.

A corpus module (`meld.py`, `iemocap.py`, ...) ends with one `CORPUS = register_corpus(Corpus(...))` that says
everything the rest of the package asks about it: its protocols (label sets, split rules, folds), the default one,
its display name, the text a model card shows (citation, the corpus' terms, its Hub dataset id) and how
`emoje-prepare` exposes it. `dataset_scripts/__init__.py` imports the corpus modules, which registers them; the
command line ([`build_corpus`]), training and the model card read the registry, so adding a corpus touches its
module and one import line.

Example:
    >>> import dataset_scripts
    >>> from dataset_scripts.corpora import corpus_of, get_corpus, get_protocol
    >>> get_corpus("msp_improv").display_name, get_protocol("iemocap", "mer4").num_folds
    ('MSP-IMPROV', 5)
    >>> corpus_of("msp-improv/loso/fold2").name, corpus_of("data/meld_text").name, corpus_of("my own data")
    ('msp-improv', 'meld', None)
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: corpus_builder.py reads this registry, not the other way
    from datasets import DatasetDict

    from .protocols import Protocol

_CORPORA: dict[str, Corpus] = {}


def _normalized(name: str) -> str:
    """Corpus names are written with `-`; `msp_improv` (a Python-style spelling) names `msp-improv`."""
    return name.replace("_", "-")


@dataclass(frozen=True)
class Corpus:
    """One corpus: what it is, how it is split, what a model card says about it and how `emoje-prepare` builds it.

    Args:
        name: the corpus id (`meld`, `msp-improv`), the first part of its protocol ids (`meld/emotion`).
        display_name: how people write it (`MELD`, `MSP-IMPROV`), shown in model cards and summaries.
        protocols: its named protocols ([`Protocol`]s whose `corpus` is `name`); they carry the label sets.
        default_protocol: the protocol used when none is named.
        description: one line saying what the corpus is.
        citation_bibtex: the BibTeX of the corpus' paper (model cards cite it), or None.
        terms: what the corpus' own licence or agreement says about publishing models trained on it, or None.
        hub_dataset_id: the Hugging Face Hub dataset its authors publish (model-card `datasets` metadata), or None.
        add_cli: a sub-command of its own, `emoje-prepare NAME ARGS...`: called with `ARGS` (the arguments after
            `NAME`), it returns the exit code; a callable, or `"module:function"` imported when the command runs.
        build: `build(data_dir, protocol=None, fold=None, **options) -> DatasetDict` for a local copy of the corpus;
            with it the corpus is a choice of `emoje-prepare NAME --data-dir DIR` (its options: `seed`,
            `validation_fraction`, and `labels` when a protocol of the corpus has no fixed label set).
        data_dir_help: what `--data-dir` holds when it is not the corpus' official layout (for `emoje-prepare -h`).
    """

    name: str
    display_name: str
    protocols: tuple[Protocol, ...]
    default_protocol: str
    description: str
    citation_bibtex: str | None = None
    terms: str | None = None
    hub_dataset_id: str | None = None
    add_cli: Callable[[Sequence[str]], int] | str | None = None
    build: Callable[..., DatasetDict] | None = None
    data_dir_help: str = ""

    def __post_init__(self) -> None:
        if not self.name or self.name != _normalized(self.name) or "/" in self.name:
            raise ValueError(f"corpus name {self.name!r}: use a non-empty id without '/' or '_' (e.g. 'msp-improv')")
        names = [protocol.name for protocol in self.protocols]
        foreign = [protocol.id for protocol in self.protocols if protocol.corpus != self.name]
        if not names or foreign or len(set(names)) != len(names):
            ids = [protocol.id for protocol in self.protocols]
            raise ValueError(f"corpus {self.name!r} needs protocols of its own with distinct names, got {ids}")
        if self.default_protocol not in names:
            raise ValueError(f"corpus {self.name!r}: default protocol {self.default_protocol!r} is not one of {names}")

    @property
    def takes_labels(self) -> bool:
        """True when a protocol of the corpus has no fixed label set (the user's list, or the labels found)."""
        return any(not protocol.label_names for protocol in self.protocols)

    @property
    def label_sets(self) -> dict[str, tuple[str, ...]]:
        """Protocol name -> its label set in class-index order (protocols whose labels come from the data: left out).

        Example:
            >>> import dataset_scripts
            >>> get_corpus("meld").label_sets["sentiment"]
            ('neutral', 'positive', 'negative')
        """
        return {protocol.name: protocol.label_names for protocol in self.protocols if protocol.label_names}

    def get_protocol(self, name: str | None = None) -> Protocol:
        """The protocol `name` ([`default_protocol`] when None); an unknown name is a ValueError listing the others."""
        name = name or self.default_protocol
        for protocol in self.protocols:
            if protocol.name == name:
                return protocol
        raise ValueError(_unknown_protocol(name, self.name, sorted(p.name for p in self.protocols)))

    def command(self) -> Callable[[Sequence[str]], int] | None:
        """The `emoje-prepare NAME ...` sub-command of [`add_cli`] (imported when given as `"module:function"`)."""
        if isinstance(self.add_cli, str):
            module, _, function = self.add_cli.partition(":")
            return getattr(importlib.import_module(module), function)
        return self.add_cli


def _unknown_protocol(name: str | None, corpus: str, names: list[str]) -> str:
    return f"unknown protocol {name!r} for corpus {corpus!r}; choose one of {names}"


def register_corpus(corpus: Corpus) -> Corpus:
    """Add `corpus` to the registry and return it (a corpus module's last statement); a second entry of the same
    name is a ValueError."""
    known = _CORPORA.get(corpus.name)
    if known is not None and known != corpus:
        raise ValueError(f"a corpus named {corpus.name!r} is already registered ({known.display_name})")
    _CORPORA[corpus.name] = corpus
    return corpus


def corpora() -> tuple[Corpus, ...]:
    """Every registered corpus, in registration order."""
    return tuple(_CORPORA.values())


def get_corpus(name: str) -> Corpus:
    """The registered corpus `name` (`msp_improv` = `msp-improv`); an unknown name is a ValueError listing them.

    Example:
        >>> import dataset_scripts
        >>> get_corpus("meld").hub_dataset_id
        'declare-lab/MELD'
    """
    corpus = _CORPORA.get(_normalized(name))
    if corpus is None:
        raise ValueError(f"unknown corpus {name!r}; expected one of {tuple(_CORPORA)}")
    return corpus


def get_protocol(corpus: str, name: str | None = None) -> Protocol:
    """The protocol `name` of `corpus` (its default when `name` is None).

    Example:
        >>> import dataset_scripts
        >>> protocol = get_protocol("iemocap", "mer4")
        >>> protocol.label_names, protocol.num_folds
        (('neutral', 'happy', 'angry', 'sad'), 5)
    """
    corpus = _normalized(corpus)
    if corpus not in _CORPORA:
        raise ValueError(_unknown_protocol(name, corpus, []))
    return _CORPORA[corpus].get_protocol(name)


def list_protocols(corpus: str | None = None) -> list[Protocol]:
    """All named protocols (of one corpus if given), in registration order."""
    if corpus is not None:
        known = _CORPORA.get(_normalized(corpus))
        return list(known.protocols) if known is not None else []
    return [protocol for known in _CORPORA.values() for protocol in known.protocols]


def build_corpus(
    corpus: str, data_dir: str, protocol: str | None = None, fold: int | None = None, labels=None, **kwargs
) -> DatasetDict:
    """Build one registered corpus by name from its local copy `data_dir` (its `build`); returns the `DatasetDict`.

    `labels` (the class order) is for corpora whose protocol has no fixed label set; `kwargs` go to the builder
    (`seed`, `validation_fraction`). This is what `emoje-prepare CORPUS --data-dir DIR` runs.
    """
    corpus = _normalized(corpus)
    buildable = {entry.name: entry for entry in _CORPORA.values() if entry.build is not None}
    if corpus not in buildable:
        raise ValueError(f"unknown corpus {corpus!r}; expected one of {tuple(buildable)}")
    entry = buildable[corpus]
    if labels is not None:
        if not entry.takes_labels:
            takers = " and ".join(name for name, other in buildable.items() if other.takes_labels)
            raise ValueError(
                f"--labels only applies to the {takers} corpus (the {corpus} label set comes from its protocol)"
            )
        kwargs["labels"] = labels
    return entry.build(data_dir, protocol=protocol, fold=fold, **kwargs)


def _name_pattern(name: str) -> re.Pattern[str]:
    """`msp-improv` -> a pattern for `msp-improv`, `msp_improv`, `MSP IMPROV`, `mspimprov` as a whole word."""
    parts = [re.escape(part) for part in re.split(r"[-_\s]+", name.lower()) if part]
    return re.compile(r"(?<![a-z0-9])" + r"[-_\s]?".join(parts) + r"(?![a-z0-9])")


def corpus_of(*texts: str | None) -> Corpus | None:
    """The registered corpus a protocol id, dataset name or note names (None when none does).

    A corpus is named by its id or display name as a whole word, in any of the spellings `msp-improv`,
    `msp_improv`, `MSP IMPROV`. The texts are read in order; within one, the earliest (then longest) name wins.

    Example:
        >>> import dataset_scripts
        >>> [corpus_of(text).name for text in ("MSP-IMPROV", "iemocap/mer4/fold3", "emoje synthetic conversations")]
        ['msp-improv', 'iemocap', 'synthetic']
        >>> corpus_of(None, "runs/meld-text").name, corpus_of("melding"), corpus_of("")
        ('meld', None, None)
    """
    for text in texts:
        lowered = (text or "").lower()
        found: list[tuple[int, int, Corpus]] = []
        for corpus in _CORPORA.values():
            for name in {corpus.name, corpus.display_name}:
                match = _name_pattern(name).search(lowered)
                if match:
                    found.append((match.start(), -(match.end() - match.start()), corpus))
        if found:
            return min(found, key=lambda item: item[:2])[2]
    return None


__all__ = [
    "Corpus",
    "build_corpus",
    "corpora",
    "corpus_of",
    "get_corpus",
    "get_protocol",
    "list_protocols",
    "register_corpus",
]
