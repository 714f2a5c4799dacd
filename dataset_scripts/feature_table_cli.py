"""`emoje-prepare features`: a table of utterances plus pre-extracted arrays -> a prepared dataset.

    emoje-prepare features --table TABLE --output OUT
        [--dialogue-column dialogue_id] [--utterance-column utterance_id] [--speaker-column speaker]
        [--label-column label] [--text-column text] [--split-column split]
        [--column MODALITY=COLUMN ...] [--arrays-dir MODALITY=DIR ...] [--file-pattern '{dialogue}_{utterance}']
        [--split-by COLUMN --train VALUES [--validation VALUES] [--test VALUES]]
        [--labels a,b,c] [--corpus NAME] [--drop-featureless] [--allow-missing-arrays]

VALUES are comma-separated values of the split-by column, with inclusive integer ranges (`1-16,18`). The table is
read and checked completely before OUT is written, so a bad table leaves OUT untouched. Table layout, array
file naming and error rules: `dataset_scripts/feature_table*.py` and dataset_scripts/README.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from .feature_table import GIVEN, build_feature_table, describe_features
from .feature_table_layout import DEFAULT_FILE_PATTERN, ColumnSplit, TableColumns
from .schema import MODALITIES, build_summary, dataset_metadata, save_prepared


def _modality_pairs(values: Sequence[str], option: str, parser: argparse.ArgumentParser) -> dict[str, str]:
    """`["audio=audio_mfcc"]` -> `{"audio": "audio_mfcc"}` (each modality once)."""
    pairs: dict[str, str] = {}
    for value in values:
        modality, sep, target = (part.strip() for part in value.partition("="))
        if not sep or not target or modality not in MODALITIES:
            parser.error(f"{option} {value!r}: expected MODALITY=NAME with MODALITY one of {','.join(MODALITIES)}")
        if modality in pairs:
            parser.error(f"{option}: {modality} given twice")
        pairs[modality] = target
    return pairs


def features_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emoje-prepare features",
        description="Build a prepared dataset from a table of utterances (CSV/TSV/JSONL/parquet) and "
        "pre-extracted per-utterance feature arrays (list columns or .npy/.npz folders).",
    )
    parser.add_argument("--table", required=True, help="the utterance table (.csv, .tsv, .jsonl, .parquet)")
    parser.add_argument("--output", required=True, help="where to save the DatasetDict (save_to_disk)")
    names = parser.add_argument_group("column names")
    names.add_argument("--dialogue-column", default="dialogue_id")
    names.add_argument("--utterance-column", default=None, help="default utterance_id if present, else table order")
    names.add_argument("--speaker-column", default="speaker")
    names.add_argument("--label-column", default="label")
    names.add_argument("--text-column", default=None, help="transcript column (default text if present)")
    names.add_argument(
        "--split-column", default="split",
        help="train/validation(dev,val)/test per row; a table without one needs --split-by (default %(default)s)",
    )
    arrays = parser.add_argument_group("features")
    arrays.add_argument(
        "--column", action="append", default=[], metavar="MODALITY=COLUMN",
        help="column of per-utterance arrays (default {m}_features, or {m} for audio/face/body); repeatable",
    )
    arrays.add_argument(
        "--arrays-dir", action="append", default=[], metavar="MODALITY=DIR",
        help="folder of per-utterance <stem>.npy / .npz files; repeatable",
    )
    arrays.add_argument(
        "--file-pattern", default=DEFAULT_FILE_PATTERN,
        help="array file stem from {dialogue} and {utterance} (default %(default)s)",
    )
    arrays.add_argument(
        "--allow-missing-arrays", action="store_true", help="a missing array file = absent modality (not an error)"
    )
    arrays.add_argument(
        "--drop-featureless", action="store_true", help="skip rows with no features at all (default: error)"
    )
    rule = parser.add_argument_group("split rule (instead of a split column)")
    rule.add_argument("--split-by", default=None, metavar="COLUMN", help="column whose values choose the split")
    rule.add_argument("--train", default=None, metavar="VALUES", help="values for train, e.g. 1-16")
    rule.add_argument("--validation", default="", metavar="VALUES")
    rule.add_argument("--test", default="", metavar="VALUES")
    parser.add_argument("--labels", default=None, help="the label list a,b,c (default: sorted train labels)")
    parser.add_argument(
        "--allow-empty-splits", action="store_true", help="save a split with no rows (default: an error naming it)"
    )
    parser.add_argument(
        "--corpus", default=GIVEN.corpus, help="corpus name in the metadata; NAME/<split-by column> may be a "
        "registered protocol (ravdess/actor), which then fixes labels and split values",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`emoje-prepare features`; bad input raises a ValueError naming the table, row and column, which
    `emoje-prepare`'s error boundary prints as one line (exit 2)."""
    parser = features_parser()
    args = parser.parse_args(argv)
    if (args.split_by is None) != (args.train is None):
        parser.error("--split-by and --train go together (with optional --validation / --test)")
    started = time.perf_counter()
    split = None
    if args.split_by is not None:
        split = ColumnSplit.parse(args.split_by, args.train, args.validation, args.test)
    dataset = build_feature_table(
        args.table,
        columns=TableColumns(
            dialogue=args.dialogue_column,
            utterance=args.utterance_column,
            speaker=args.speaker_column,
            label=args.label_column,
            text=args.text_column,
            split=args.split_column,
        ),
        feature_columns=_modality_pairs(args.column, "--column", parser),
        array_dirs=_modality_pairs(args.arrays_dir, "--arrays-dir", parser),
        file_pattern=args.file_pattern,
        split=split,
        labels=None if args.labels is None else [x.strip() for x in args.labels.split(",") if x.strip()],
        corpus=args.corpus,
        drop_featureless=args.drop_featureless,
        allow_missing_arrays=args.allow_missing_arrays,
    )
    save_prepared(dataset, args.output, allow_empty_splits=args.allow_empty_splits)
    print(build_summary(dataset).format())
    print("\n".join(describe_features(dataset_metadata(dataset))))
    print(f"built in {time.perf_counter() - started:.1f} s; saved to {args.output}")
    return 0


__all__ = ["features_parser", "main"]


if __name__ == "__main__":  # through emoje-prepare's error boundary
    from dataset_scripts.cli import main as prepare

    sys.exit(prepare(["features", *sys.argv[1:]]))
