"""The base of the corpus builders: read a corpus's records, split them with one of its registered protocols.

Example:
    >>> from dataset_scripts.corpus_builder import CorpusBuilder
    >>> CorpusBuilder.corpus
    ''
"""

from __future__ import annotations

import os
from pathlib import Path

from datasets import DatasetDict

from .corpora import get_protocol
from .protocols import Protocol, build_dataset_dict
from .schema import BuildSummary, UtteranceRecord


class CorpusBuilder:
    """Base of the corpus builders: read records, split them with a protocol, return a `DatasetDict`.

    Subclasses set `corpus` and implement `read_records()`; after `build()`, `summary` holds the
    [`BuildSummary`] (also attached to the dataset's metadata).
    """

    corpus: str = ""

    def __init__(
        self,
        data_dir: str | os.PathLike,
        protocol: str | Protocol | None = None,
        fold: int | None = None,
        seed: int = 0,
        validation_fraction: float = 0.1,
    ):
        self.data_dir = Path(data_dir).expanduser().resolve()
        if not self.data_dir.exists():
            raise FileNotFoundError(f"{self.corpus} data directory {self.data_dir} does not exist")
        self.protocol = protocol if isinstance(protocol, Protocol) else get_protocol(self.corpus, protocol)
        self.fold = self.protocol.check_fold(fold)
        if not 0.0 < validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
        self.seed = seed
        self.validation_fraction = validation_fraction
        self.summary = BuildSummary(corpus=self.corpus, protocol=self.protocol.name, fold=self.fold)

    def read_records(self) -> list[UtteranceRecord]:
        raise NotImplementedError

    def build(self) -> DatasetDict:
        """Read the corpus and return the `train`/`validation`/`test` `DatasetDict`."""
        self.summary = BuildSummary(corpus=self.corpus, protocol=self.protocol.name, fold=self.fold)
        records = self.read_records()
        return build_dataset_dict(
            records, self.protocol, self.fold, self.summary, str(self.data_dir), self.seed, self.validation_fraction
        )


__all__ = ["CorpusBuilder"]
