"""`emoje-prepare`: build a corpus with a protocol, extract features, save the DatasetDict (the command line).

    emoje-prepare CORPUS --data-dir DIR --output OUT     (CORPUS: meld, iemocap, msp-improv, conversations, ...)
        [--protocol P] [--fold K] [--features text,audio,face,body] [--text-encoder NAME_OR_PATH] [--labels a,b,c]
        [--audio-features logmel|egemaps|compare|SPEECH_ENCODER] [--audio-option KEY=VALUE ...]
        [--audio-device DEVICE] [--audio-batch-size N]
        [--cache-dir DIR] [--batch-size N] [--privacy] [--seed N] [--validation-fraction F] [--allow-empty-splits]
        [--num-workers N] [--shard-seconds S] [--no-progress] [--quiet]
    accelerate launch --num_processes K -m dataset_scripts.cli ...   (K processes, one machine or several)
    emoje-prepare features --table TABLE --output OUT ...   (pre-extracted features: see feature_table_cli.py)

The corpora and their sub-commands come from the corpus registry (`corpora.py`): a corpus with a `build` is a
choice of CORPUS, one with `add_cli` a sub-command of its own (`features`).

OUT is written with `DatasetDict.save_to_disk` (splits train/validation/test) plus `emoje_meta.json` (corpus,
protocol, fold, label names, build and extraction summary); read it back with `dataset_scripts.load_prepared(OUT)`
and `dataset_scripts.read_prepared_metadata(OUT)`. `--features none` only builds. Re-running the same command
reuses the feature cache (and resumes an interrupted extraction).

OUT is locked for the whole run (a second `emoje-prepare` into it fails at once) and replaced atomically: the
previous dataset stays in place until the new one is complete (`output_folder`). OUT must be new, empty or a
dataset prepared earlier; an empty split is refused unless `--allow-empty-splits`. Bad options (`--output` a file,
an unloadable `--text-encoder`, an unknown `--audio-features` or `--audio-option`) end with a one-line error and exit
code 2.

`--audio-features` chooses the audio features: `logmel` (default, 80-bin log-mel), `egemaps` / `compare` (openSMILE's
eGeMAPS v02 / ComParE 2016: `pip install emoje[opensmile]`, under audEERING's research license) or a Hugging Face
speech encoder by Hub id or local folder (WavLM, HuBERT, wav2vec 2.0). `--audio-option key=value` (repeatable) sets
its settings (`level=functionals`; `layer=6`, `pooling=frames`); `--audio-device` / `--audio-batch-size` say where
and how many chunks an encoder runs at once. The choice is recorded in the metadata and keyed in the feature cache.

`--num-workers N` extracts media (audio, face, body) in N worker processes. Under `accelerate launch` every process
builds the corpus and extracts its share of the utterances into the shared feature cache; only the main process
takes the output lock, assembles the DatasetDict and saves it (the others exit 0 once their share is written).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from .cli_errors import DEBUG_FLAG, VERBOSE_FLAG, add_common_options, run_command
from .cli_logging import QUIET_FLAG
from .corpora import Corpus, build_corpus, corpora
from .output_folder import OutputFolderError, output_lock
from .schema import MODALITIES, SPLITS, build_summary, dataset_metadata, save_prepared


def _buildable() -> tuple[Corpus, ...]:
    """The corpora `emoje-prepare CORPUS --data-dir DIR` builds (those with a `build`), in registration order."""
    return tuple(corpus for corpus in corpora() if corpus.build is not None)


def _commands() -> dict[str, Corpus]:
    """The corpora with a sub-command of their own (`emoje-prepare NAME ...`), by name."""
    return {corpus.name: corpus for corpus in corpora() if corpus.add_cli is not None}


def load_text_encoder_option(value: str) -> Any:
    """The encoder named by `--text-encoder`, or a ValueError naming the option and the value (no traceback)."""
    from .features import resolve_text_encoder

    looks_local = os.path.isabs(value) or value.startswith((".", "~")) or os.path.exists(value)
    if looks_local and not os.path.isdir(os.path.expanduser(value)):
        reason = "is a file, not a model folder" if os.path.exists(value) else "no such folder"
        raise ValueError(f"--text-encoder {value}: {reason}")
    try:
        return resolve_text_encoder(os.path.expanduser(value) if looks_local else value)
    except (OSError, ValueError, KeyError, TypeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"--text-encoder {value}: cannot load a text encoder from it ({first_line})") from error


def load_audio_extractor_option(
    value: str, options: Sequence[str] = (), device: str | None = None, batch_size: int | None = None
) -> Any:
    """The audio extractor `--audio-features` / `--audio-option` name, or a ValueError naming the options and the
    reason (no traceback)."""
    from modeling_emoje.audio_features_emoje import parse_audio_options

    from .features import resolve_audio_extractor

    spec = os.path.abspath(os.path.expanduser(value)) if os.path.exists(os.path.expanduser(value)) else value
    try:
        settings = parse_audio_options(options)
        runtime = {key: item for key, item in (("device", device), ("batch_size", batch_size)) if item is not None}
        if runtime and spec in ("logmel", "egemaps", "compare"):
            raise ValueError(f"--audio-device/--audio-batch-size apply to a speech encoder, not to {spec}")
        return resolve_audio_extractor(spec, **settings, **runtime)
    except (OSError, ValueError, KeyError, TypeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        given = " ".join(f"--audio-option {option}" for option in options)
        raise ValueError(f"--audio-features {value}{' ' + given if given else ''}: {first_line}") from error


def _parse_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _parser() -> argparse.ArgumentParser:
    buildable = _buildable()
    protocols = "; ".join(
        f"{corpus.name}: "
        + ", ".join(
            f"{p.name}{' (default)' if p.name == corpus.default_protocol else ''}{f' [folds 1-{p.num_folds}]' if p.num_folds else ''}"
            for p in corpus.protocols
        )
        for corpus in buildable
    )
    commands = "".join(f" For a {c.display_name}, run `emoje-prepare {name} -h`." for name, c in _commands().items())
    parser = argparse.ArgumentParser(
        prog="emoje-prepare",
        description="Build an emotion-recognition corpus into a train/validation/test DatasetDict with features."
        + commands,
        epilog=f"protocols - {protocols}",
    )
    parser.add_argument("corpus", choices=[corpus.name for corpus in buildable])
    layouts = "".join(f" ({c.name}: {c.data_dir_help})" for c in buildable if c.data_dir_help)
    parser.add_argument("--data-dir", required=True, help=f"the corpus in its official layout{layouts}")
    parser.add_argument("--output", required=True, help="where to save the DatasetDict (save_to_disk)")
    parser.add_argument("--protocol", default=None, help="named protocol (default: the corpus' default)")
    parser.add_argument("--fold", type=int, default=None, help="fold of a cross-validation protocol (default 1)")
    parser.add_argument(
        "--features", default=",".join(MODALITIES), help="modalities to extract, comma-separated, or 'none'"
    )
    parser.add_argument(
        "--text-encoder", default=None, help="Hugging Face encoder name or path (default: the package's)"
    )
    parser.add_argument(
        "--audio-features",
        default="logmel",
        help="audio features: logmel (default), egemaps, compare (openSMILE: pip install emoje[opensmile]), or a "
        "speech encoder's Hub id or local folder (WavLM, HuBERT, wav2vec 2.0)",
    )
    parser.add_argument(
        "--audio-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the audio features, repeatable: level=functionals (egemaps/compare), layer=6, "
        "pooling=frames (encoder), frames_per_second=10, max_frames=300",
    )
    parser.add_argument("--audio-device", default=None, help="speech encoder: cpu, cuda, cuda:1 (default: cuda if available)")
    parser.add_argument(
        "--audio-batch-size", type=int, default=None, help="speech encoder: 20 s chunks per forward (default 1 on CPU, 4 on GPU)"
    )
    takers = ", ".join(corpus.name for corpus in buildable if corpus.takes_labels)
    parser.add_argument("--labels", default=None, help=f"{takers}: the label list a,b,c (default: sorted labels found)")
    parser.add_argument(
        "--cache-dir", default=None, help="feature cache (default $EMOJE_CACHE_DIR or ~/.cache/emoje/features)"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="texts per text-encoder call")
    parser.add_argument("--privacy", action="store_true", help="never extract face features")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation-dialogue draw")
    parser.add_argument(
        "--validation-fraction", type=float, default=0.1, help="share of training dialogues drawn for validation"
    )
    parser.add_argument(
        "--allow-empty-splits", action="store_true", help="save even if a split has no rows (default: an error)"
    )
    parser.add_argument(
        "--num-workers",
        type=int,
        default=1,
        help="worker processes extracting audio/face/body (default 1; text is encoded in the main process)",
    )
    parser.add_argument(
        "--shard-seconds",
        type=float,
        default=60.0,
        help="write finished features to the cache at least this often (a killed run loses at most this much work "
        "per process; default 60)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return add_common_options(parser)  # --debug, --quiet, --verbose: taken by `main` before parsing


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `emoje-prepare`, inside the error boundary every command shares (`dataset_scripts.cli_errors`:
    bad input is one line and exit 2, ``--debug`` shows the traceback, ``--quiet``/``--verbose`` set the logs).
    A failure ends with `SystemExit` carrying the status, as argparse's own errors do."""
    argv = list(sys.argv[1:] if argv is None else argv)
    words = [token for token in argv if token not in (DEBUG_FLAG, QUIET_FLAG, VERBOSE_FLAG)]
    program = f"emoje-prepare {words[0]}" if words[:1] and words[0] in _commands() else "emoje-prepare"
    returned: list[int] = []
    status = run_command(program, lambda tokens: returned.append(_prepare(tokens)), argv, take_flags=True)
    if not returned:  # an error the boundary reported
        raise SystemExit(status)
    return returned[0]


def _prepare(argv: list[str]) -> int:
    """`emoje-prepare` with `argv` (its `--debug`, `--quiet` and `--verbose` already taken out)."""
    commands = _commands()
    if argv[:1] and argv[0] in commands:  # a corpus with a sub-command of its own (`emoje-prepare features ...`)
        return commands[argv[0]].command()(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    features = [] if args.features.strip().lower() in ("", "none") else _parse_list(args.features)
    unknown = [m for m in features if m not in MODALITIES]
    if unknown:
        parser.error(f"--features: unknown modalities {unknown}; choose from {','.join(MODALITIES)}")
    if args.num_workers < 1:
        parser.error(f"--num-workers must be >= 1, got {args.num_workers}")
    labels = _parse_list(args.labels) if args.labels is not None else None
    from .parallel import ProcessShare, WorkerFailed

    is_main = ProcessShare.current().is_main  # under `accelerate launch`, only the main process writes OUT
    started = time.perf_counter()
    held = ExitStack()
    try:
        if is_main:
            held.enter_context(output_lock(args.output))  # held until saved: a second writer fails before any work
        text_encoder = None
        if args.text_encoder and "text" in features and is_main:  # loaded first: a bad path fails before the build
            text_encoder = load_text_encoder_option(args.text_encoder)
        audio_extractor = None
        if "audio" in features:  # built first too: a bad name, path or setting fails before the build
            audio_extractor = load_audio_extractor_option(
                args.audio_features, args.audio_option, args.audio_device, args.audio_batch_size
            )
        dataset = build_corpus(
            args.corpus,
            args.data_dir,
            args.protocol,
            args.fold,
            labels=labels,
            seed=args.seed,
            validation_fraction=args.validation_fraction,
        )
        built = time.perf_counter()
        if features:
            from .features import extract_features

            dataset = extract_features(
                dataset,
                features,
                text_encoder=text_encoder,
                audio_extractor=audio_extractor,
                cache_dir=args.cache_dir,
                batch_size=args.batch_size,
                privacy=args.privacy,
                progress=not args.no_progress,
                num_workers=args.num_workers,
                shard_seconds=args.shard_seconds,
            )
        if not is_main:  # another process of `accelerate launch`: its share is in the cache, the main one saves
            return 0
        save_prepared(dataset, args.output, allow_empty_splits=args.allow_empty_splits)
    except OutputFolderError as error:
        raise ValueError(f"--output: {error}") from error
    except ImportError as error:  # an optional dependency of the asked features
        raise ValueError(str(error)) from error
    except WorkerFailed as error:
        parser.exit(1, f"emoje-prepare: error: {error}\n")
    finally:
        held.close()
    finished = time.perf_counter()
    print(build_summary(dataset).format())
    metadata = dataset_metadata(dataset)
    for modality, info in metadata.get("features", {}).items():
        rows = ", ".join(f"{split} {info['rows'][split]}" for split in SPLITS if split in info["rows"])
        print(f"  {modality}_features: dim {info['dim']} ({rows} rows with features)")
    print(f"built in {built - started:.1f} s, features in {finished - built:.1f} s; saved to {args.output}")
    return 0


__all__ = ["load_audio_extractor_option", "load_text_encoder_option", "main"]


if __name__ == "__main__":
    sys.exit(main())
