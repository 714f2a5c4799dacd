"""emoje dataset builders: MELD, IEMOCAP, MSP-IMPROV, user conversations and feature tables -> one `DatasetDict` schema.

Builders read a local copy of a corpus in its official layout (DATA.md) and return splits `train`, `validation`,
`test` split by a named protocol ([`get_protocol`]); [`extract_features`] adds cached per-utterance features; the
`emoje-prepare` command does both and saves the result ([`load_prepared`], [`read_prepared_metadata`]).

Example:
    >>> from dataset_scripts import build_meld, get_protocol
    >>> dataset = build_meld("../shared/data/meld")  # doctest: +SKIP
    >>> get_protocol("meld").check_leakage(dataset)  # doctest: +SKIP
"""

from .cli import build_corpus
from .conversations import ConversationsBuilder, build_conversations
from .feature_table import ColumnSplit, FeatureTableBuilder, TableColumns, build_feature_table
from .features import FeatureCache, default_cache_dir, extract_features
from .iemocap import IemocapBuilder, build_iemocap
from .meld import MeldBuilder, build_meld, fix_mojibake
from .msp_improv import MspImprovBuilder, build_msp_improv
from .output_folder import OutputFolderError
from .protocols import (
    PROTOCOLS,
    CorpusBuilder,
    LeakageError,
    Protocol,
    assert_no_leakage,
    get_protocol,
    list_protocols,
)
from .ravdess import build_ravdess, prepare_ravdess
from .schema import (
    LABEL_SETS,
    METADATA_FILE,
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
    "LABEL_SETS",
    "METADATA_FILE",
    "MODALITIES",
    "PROTOCOLS",
    "SPLITS",
    "BuildSummary",
    "ColumnSplit",
    "ConversationsBuilder",
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
    "dataset_metadata",
    "default_cache_dir",
    "emoje_features",
    "extract_features",
    "fix_mojibake",
    "get_protocol",
    "list_protocols",
    "load_prepared",
    "prepare_ravdess",
    "read_prepared_metadata",
    "save_prepared",
]
