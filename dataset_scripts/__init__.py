"""emoje dataset builders: MELD, IEMOCAP, MSP-IMPROV, user conversations and feature tables -> one `DatasetDict` schema.

Builders read a local copy of a corpus in its official layout (DATA.md) and return splits `train`, `validation`,
`test` split by a named protocol ([`get_protocol`]); [`extract_features`] adds cached per-utterance features; the
`emoje-prepare` command does both and saves the result ([`load_prepared`], [`read_prepared_metadata`]). Every
corpus is declared once, in its module, in the corpus registry `dataset_scripts.corpora` ([`get_corpus`],
`corpora.corpora()`, [`corpus_of`]).

Example:
    >>> from dataset_scripts import build_meld, get_protocol
    >>> dataset = build_meld("../shared/data/meld")  # doctest: +SKIP
    >>> get_protocol("meld").check_leakage(dataset)  # doctest: +SKIP
"""

# The corpus modules, in the order `emoje-prepare -h` lists them: importing one registers its corpus (`corpora.py`).
from . import meld, iemocap, msp_improv, conversations, feature_table, ravdess, synthetic  # noqa: I001
from .conversations import ConversationsBuilder, build_conversations
from .corpora import Corpus, build_corpus, corpus_of, get_corpus, get_protocol, list_protocols, register_corpus
from .feature_cache import FeatureCache, default_cache_dir
from .feature_table import FeatureTableBuilder, build_feature_table
from .feature_table_layout import ColumnSplit, TableColumns
from .features import extract_features
from .iemocap import IemocapBuilder, build_iemocap
from .meld import MeldBuilder, build_meld, fix_mojibake
from .msp_improv import MspImprovBuilder, build_msp_improv
from .output_folder import METADATA_FILE, OutputFolderError
from .corpus_builder import CorpusBuilder
from .protocols import LeakageError, Protocol, assert_no_leakage
from .ravdess import build_ravdess, prepare_ravdess
from .schema import (
    MODALITIES,
    SPLITS,
    BuildSummary,
    build_summary,
    dataset_metadata,
    emoje_features,
    load_prepared,
    read_prepared_metadata,
    save_prepared,
)

__all__ = [
    "METADATA_FILE",
    "MODALITIES",
    "SPLITS",
    "BuildSummary",
    "ColumnSplit",
    "ConversationsBuilder",
    "Corpus",
    "CorpusBuilder",
    "FeatureCache",
    "FeatureTableBuilder",
    "IemocapBuilder",
    "LeakageError",
    "MeldBuilder",
    "MspImprovBuilder",
    "OutputFolderError",
    "Protocol",
    "TableColumns",
    "assert_no_leakage",
    "build_conversations",
    "build_corpus",
    "build_feature_table",
    "build_iemocap",
    "build_meld",
    "build_msp_improv",
    "build_ravdess",
    "build_summary",
    "corpus_of",
    "dataset_metadata",
    "default_cache_dir",
    "emoje_features",
    "extract_features",
    "fix_mojibake",
    "get_corpus",
    "get_protocol",
    "list_protocols",
    "load_prepared",
    "prepare_ravdess",
    "read_prepared_metadata",
    "register_corpus",
    "save_prepared",
]
