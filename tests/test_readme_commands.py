"""Every command README.md and training/README.md print is run here, exactly as printed, and must leave its product.

**Which.** The commands tests/test_readme.py finds (bash blocks, indented lines, inline code that starts with a program
and has an option), in the order the README prints them, placeholders filled: ``K`` -> 1 and ``{a,b}`` -> each (as
tests/test_readme.py does), ``DIR`` / ``DATA`` -> `PLACEHOLDERS`. Every ``emoje-*``, ``accelerate launch`` and
``python -m`` command of the package runs; `NOT_RUN` is the one list of those that cannot run here, each with its
reason (tests/test_readme.py still parses them). The dataset_scripts/ and benchmarks/ READMEs' commands are only
parsed (tests/test_readme.py).

**Where.** A command runs in the scratch folder of the earlier commands whose output it reads (``--data``,
``--model``, ``--input``, ``--data-dir``, ``--table``, ``--meld-dir`` naming what an earlier ``--output``,
``--output-dir`` or ``--export-dir`` wrote): ``emoje-prepare`` before the ``emoje-train`` that reads its folder, that
before the ``emoje-evaluate`` / ``emoje-predict`` lines that read its model. A command that reads nothing an earlier
one wrote starts a chain of its own. Each chain is one test, in its own ``tmp/checkout`` (the working folder, with
``training/configs`` linked from the checkout) beside ``tmp/shared``, so that ``../shared/...`` is what the READMEs
mean; a chain whose commands are the start of another chain runs only as part of that one.

**Inputs.** What a command reads that no earlier command wrote comes from `INPUTS`: ``MELD.Raw`` and
``path/to/MELD.Raw`` = the MELD tree of tests/dataset_fixtures (7 dialogues; CSVs only, or with clips cut from the
real face video ``../shared/media/video/single_face.mp4`` when the command extracts face or body),
``IEMOCAP_full_release`` and ``MSP-IMPROV`` = the fixture trees, ``feats.parquet`` = a 5-dialogue feature table,
``conversations.jsonl`` (and the ``call.wav`` it names), ``calls/`` = one STM transcript over a wav,
``../shared/data/ravdess`` = the real RAVDESS features (the conftest fixture: skipped where ../shared is absent,
failed in CI); and in every chain ``../shared/data/meld`` = the fixture MELD CSVs, where ``emoje-demo`` finds MELD.
Every model, prepared folder and run a command reads is made by a command the README prints (``runs/meld_full/model``
by the table's ``emoje-train --config training/configs/meld_full.yaml`` line, ``runs/demo`` by ``emoje-demo
--output-dir runs/demo``): nothing is built for them. A read that no command and no fixture provides fails the test,
naming the path.

**Fresh outputs.** A command that writes where an earlier command of its chain wrote (the READMEs show alternatives:
one process or ``accelerate launch``, with or without windows) gets a fresh output: the earlier one is renamed
``NAME.before-LINE`` first, so that each command does its work instead of finding it done (that re-running a finished
run trains nothing is tested by tests/training/demo/test_demo.py and tests/training/train/test_failures_training.py).

**How.** ``emoje-*`` commands (and ``python -m MODULE`` of a console script) run in-process through the console
script's entry point in pyproject.toml, so nothing here names a module; ``accelerate launch`` lines run in a child
process, ``python -m accelerate.commands.launch`` + the printed arguments, offline, one thread per process, with
``--main_process_port`` of a free port added (parallel tests must not share accelerate's default port 29500). The
feature cache is the chain's own; MELD is never downloaded (``HF_DATASETS_OFFLINE=1``). Each command must exit with
status 0 and leave its product (`PROGRAMS`): a prepared folder with train and test rows; a run record, checkpoints
and an export with config, weights, evaluation and card; an evaluation JSON or table; one prediction line per
conversation; a demo's data, training record and model (trained on the fixture MELD unless it asks for synthetic).
The configs run as shipped (30-60 epochs, early stopping) on the fixtures, a few steps each; the RAVDESS line trains
on the real 960 clips (about 50 s on one core).

**Reported.** A README command that fails as printed in the state a reader reaches is reported to the lead, who owns
the READMEs (none is known today).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.dataset_fixtures import (
    make_iemocap_tree,
    make_meld_face_tree,
    make_meld_tree,
    make_msp_improv_tree,
    write_call_folder,
    write_conversations_jsonl,
    write_feature_table,
)
from tests.demo_outputs import run_meld_demo
from tests.synthetic_data import REPO_ROOT, free_port, one_thread, subprocess_env  # noqa: F401  (one_thread: autouse)
from tests.test_readme import located_commands, program_of_module, script_main, script_module, snippets

RUN_DOCS = ("README.md", "training/README.md")

# The one list of README.md / training/README.md commands that are NOT run here: pattern (on the command as printed,
# placeholders filled) -> why. tests/test_readme.py parses them all the same.
NOT_RUN = {
    r"^make test$": "the test suite itself (recursion)",
    r"^make (demo|install|test-newest)$": (
        "builds a virtual environment with pip (network, minutes); the command `make demo` then runs, "
        "`emoje-demo --output-dir runs/demo`, is a README command run here (tests/test_readme.py checks the recipe)"
    ),
    r"^python (-m )?benchmarks[./]": (
        "a benchmark: 14-25 minutes on the real corpora (benchmarks/README.md); tests/test_readme.py parses it, "
        "tests/benchmarks/test_benchmarks_smoke.py runs the benchmarks at tiny size"
    ),
    r"^accelerate launch --config_file '?\S*/(single_gpu|multi_gpu|deepspeed_zero2|fsdp)\.yaml'? ": (
        "needs CUDA GPUs; tests/test_readme.py parses it and checks the config file (FSDP2 on CPU: "
        "tests/training/train/test_distributed_modalities.py)"
    ),
}
# Placeholders a README prints in a runnable command, and what the run puts there: `emoje-evaluate --model DIR --data
# DATA` follows the fine-tuning recipe (an export with its own text encoder, and its data).
PLACEHOLDERS = {"DIR": "runs/meld_text_finetune/model", "DATA": "data/meld"}
READ_OPTIONS = ("--data", "--model", "--input", "--data-dir", "--table", "--meld-dir")
WRITE_OPTIONS = ("--output", "--output-dir", "--export-dir")


def option_values(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """The values of the options ``names`` in ``argv`` (``--name value`` or ``--name=value``), in order."""
    values = []
    for index, word in enumerate(argv):
        name, equals, value = word.partition("=")
        if name in names:
            values.append(value if equals else argv[index + 1])
    return values


def normal(path: str) -> str:
    return posixpath.normpath(path)


def inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or under it (both relative to the working folder)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@dataclass(frozen=True)
class ReadmeCommand:
    doc: str
    line: int
    text: str  # as printed, placeholders filled

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text)

    def program_argv(self) -> tuple[str | None, list[str]]:
        """(console script, its arguments); ``accelerate launch ... -m MODULE ARGS`` and ``python -m MODULE ARGS``
        give the console script whose entry point is in MODULE (None: no console script)."""
        words = self.argv
        if words[0] in ("accelerate", "python") and "-m" in words:
            index = words.index("-m")
            return program_of_module(words[index + 1]), words[index + 2:]
        return words[0], words[1:]

    def reads(self) -> list[str]:
        return [normal(path) for path in option_values(self.argv, READ_OPTIONS)]

    def writes(self) -> list[str]:
        return [normal(path) for path in option_values(self.argv, WRITE_OPTIONS)]


def fill_placeholders(command: str) -> str:
    for name, value in PLACEHOLDERS.items():
        command = re.sub(rf"(?<= ){name}(?= |$)", value, command)
    return command


def readme_commands(doc: str) -> list[ReadmeCommand]:
    """The commands of ``doc`` in the order it prints them."""
    found = [
        ReadmeCommand(doc, line, fill_placeholders(text))
        for snippet in snippets(doc) if snippet.kind in ("bash", "inline", "indented")
        for line, text in located_commands(snippet)
    ]
    return sorted(found, key=lambda command: command.line)  # stable: a block's commands keep their order


def not_run_reason(command: str) -> str | None:
    return next((reason for pattern, reason in NOT_RUN.items() if re.search(pattern, command)), None)


def chains(commands: list[ReadmeCommand]) -> list[list[ReadmeCommand]]:
    """The runnable ``commands`` grouped into chains: a command joins the chain of the latest earlier command that
    wrote what it reads (see the module docstring)."""
    runnable = [command for command in commands if not_run_reason(command.text) is None]
    parent = list(range(len(runnable)))

    def root(index: int) -> int:
        while parent[index] != index:
            index = parent[index]
        return index

    for index, command in enumerate(runnable):
        for path in command.reads():
            writers = [j for j in range(index) if any(inside(path, made) for made in runnable[j].writes())]
            if writers:
                writer = writers[-1]  # the latest
                parent[root(index)] = root(writer)
    grouped: dict[int, list[ReadmeCommand]] = {}
    for index, command in enumerate(runnable):
        grouped.setdefault(root(index), []).append(command)
    return list(grouped.values())


def canonical(command: str) -> tuple:
    """``command`` with its options in a fixed order (``--a 1 --b`` and ``--b --a 1`` are the same command)."""
    words = shlex.split(command)
    start = next((index for index, word in enumerate(words) if word.startswith("--")), len(words))
    options, current = [], None
    for word in words[start:]:
        if word.startswith("--"):
            current = [word]
            options.append(current)
        else:
            current.append(word)
    return (*words[:start], *sorted(tuple(option) for option in options))


def distinct_chains(found: list[list[ReadmeCommand]]) -> list[list[ReadmeCommand]]:
    """``found`` without the chains whose commands are the start of another chain (the same commands, run there)."""
    kept: list[list[ReadmeCommand]] = []
    for chain in sorted(found, key=len, reverse=True):
        same = [canonical(command.text) for command in chain]
        if not any([canonical(command.text) for command in other][: len(same)] == same for other in kept):
            kept.append(chain)
    return sorted(kept, key=lambda chain: (RUN_DOCS.index(chain[0].doc), chain[0].line))


RUN_COMMANDS = {doc: readme_commands(doc) for doc in RUN_DOCS}
CHAINS = distinct_chains([chain for doc in RUN_DOCS for chain in chains(RUN_COMMANDS[doc])])


def chain_id(chain: list[ReadmeCommand]) -> str:
    first = chain[0]
    made = (first.writes() or ["-"])[0]
    return f"{first.where} {shlex.split(first.text)[0]} {made} ({len(chain)} commands)"


# ------------------------------------------------------------------------------------------------ what is read


def _meld(target: Path, readers: list[ReadmeCommand], request) -> None:
    """MELD's layout: the CSVs, plus clips in which a face is found when a reader extracts face or body features."""
    prepare = script_module("emoje-prepare")._parser()
    features = {
        modality
        for program, argv in (command.program_argv() for command in readers)
        if program == "emoje-prepare" and argv[:1] != ["features"]
        for modality in prepare.parse_args(argv).features.split(",")
    }
    if features & {"face", "body"}:
        make_meld_face_tree(target, request.getfixturevalue("media_dir") / "video" / "single_face.mp4")
    else:
        make_meld_tree(target, clips=False)


def _link(fixture: str) -> Callable:
    def link(target: Path, readers: list[ReadmeCommand], request) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(request.getfixturevalue(fixture), target_is_directory=True)

    return link


# What the READMEs' commands read that no README command makes: path (relative to the working folder) -> builder.
INPUTS: dict[str, Callable[[Path, list[ReadmeCommand], pytest.FixtureRequest], object]] = {
    "MELD.Raw": _meld,
    "path/to/MELD.Raw": _meld,
    "IEMOCAP_full_release": lambda target, readers, request: make_iemocap_tree(target.parent),
    "MSP-IMPROV": lambda target, readers, request: make_msp_improv_tree(target),
    "feats.parquet": lambda target, readers, request: write_feature_table(target),
    "conversations.jsonl": lambda target, readers, request: write_conversations_jsonl(target),
    "calls": lambda target, readers, request: write_call_folder(target),
    "../shared/data/ravdess": _link("ravdess_dir"),
    "../shared/data/meld": lambda target, readers, request: make_meld_tree(target, clips=False),  # emoje-demo's too
}


# Laid out in every chain: `emoje-demo` reads it without naming it.
ALWAYS = ("../shared/data/meld",)


def lay_out(root: Path, request) -> Path:
    """``root/checkout`` (returned: the working folder) with ``training/configs``, beside ``root/shared`` holding
    `ALWAYS`."""
    checkout = root / "checkout"
    (checkout / "training").mkdir(parents=True)
    (checkout / "training" / "configs").symlink_to(REPO_ROOT / "training" / "configs", target_is_directory=True)
    for key in ALWAYS:
        INPUTS[key](checkout / key, [], request)
    return checkout


# ------------------------------------------------------------------------------------------- what is produced


def _train_outputs(argv: list[str]) -> list[str]:
    script, training_args, _ = script_module("emoje-train").parse_arguments(argv)
    output = normal(str(training_args.output_dir))
    return [output, normal(script.export_dir) if script.export_dir else posixpath.join(output, "model")]


def _check_train(argv: list[str], printed: str) -> None:
    output, export = (Path(path) for path in _train_outputs(argv))
    assert (output / "emoje_run.json").is_file(), f"no run record in {output}"
    assert sorted(output.glob("checkpoint-*")), f"no checkpoint in {output}"
    for name in ("config.json", "model.safetensors", "evaluation.json", "README.md"):
        assert (export / name).is_file(), f"the export {export} has no {name}"
    assert json.loads((export / "evaluation.json").read_text())["scenarios"], f"{export}/evaluation.json: no scenario"


def _prepare_outputs(argv: list[str]) -> list[str]:
    return [normal(option_values(argv, ("--output",))[-1])]


def _check_prepare(argv: list[str], printed: str) -> None:
    from dataset_scripts import load_prepared

    (output,) = _prepare_outputs(argv)
    data = load_prepared(output)
    assert data["train"].num_rows > 0 and data["test"].num_rows > 0, f"{output}: {data}"


def _check_evaluate(argv: list[str], printed: str) -> None:
    args = script_module("emoje-evaluate")._parser().parse_args(argv)
    if args.output:
        assert json.loads(Path(args.output).read_text())["scenarios"], f"{args.output}: no scenario"
    table = printed.split("\n-", 1)[-1].splitlines()[1:]  # the rows under the table's rule
    assert table and re.match(r"\S+\s+\d+\s+\d", table[0]), f"no score table printed:\n{printed[-2000:]}"
    if args.plot:
        assert Path(args.plot).is_file()


def _check_predict(argv: list[str], printed: str) -> None:
    args = script_module("emoje-predict")._parser().parse_args(argv)
    lines = [json.loads(line) for line in Path(args.output).read_text().splitlines()]
    ids = [line["id"] for line in lines]
    assert lines and len(set(ids)) == len(ids), f"{args.output}: ids {ids}"
    assert all(line["turns"] and all("label" in turn for turn in line["turns"]) for line in lines), lines[0]
    if args.input is None:  # --data: a prepared split, gold labels beside
        assert all("gold" in turn for line in lines for turn in line["turns"]), lines[0]
        return
    given = Path(args.input)
    if given.is_dir():
        expected = {path.stem for path in given.iterdir() if path.suffix in (".stm", ".rttm")}
    else:
        expected = {str(number) for number, line in enumerate(given.read_text().splitlines()) if line.strip()}
    assert len(lines) == len(expected), f"{args.output}: {len(lines)} lines for {len(expected)} conversations"


def _demo_outputs(argv: list[str]) -> list[str]:
    args, _ = script_module("emoje-demo")._parser().parse_known_args(argv)
    return [normal(args.output_dir)]


def _check_demo(argv: list[str], printed: str) -> None:
    from modeling_emoje.configuration_emoje import SYNTHETIC_TRAINED_ON

    args, _ = script_module("emoje-demo")._parser().parse_known_args(argv)
    output = Path(args.output_dir)
    for made in ("data", "training/emoje_run.json", "model/config.json", "model/model.safetensors"):
        assert (output / made).exists(), f"emoje-demo left no {output / made}"
    trained_on = json.loads((output / "model" / "config.json").read_text())["trained_on"]
    assert (trained_on == SYNTHETIC_TRAINED_ON) == (args.corpus == "synthetic"), f"the demo trained on {trained_on!r}"
    assert "Next steps" in printed


@dataclass(frozen=True)
class Program:
    """What a console script writes (with its own defaults) and the check that it left its product there."""

    outputs: Callable[[list[str]], list[str]]
    check: Callable[[list[str], str], None]


def _named_output(argv: list[str]) -> list[str]:
    return [normal(path) for path in option_values(argv, ("--output",))]


PROGRAMS = {
    "emoje-prepare": Program(_prepare_outputs, _check_prepare),
    "emoje-train": Program(_train_outputs, _check_train),
    "emoje-evaluate": Program(_named_output, _check_evaluate),
    "emoje-predict": Program(_named_output, _check_predict),
    "emoje-demo": Program(_demo_outputs, _check_demo),
}


# ----------------------------------------------------------------------------------------------------- running


def run_printed(command: ReadmeCommand, cwd: Path) -> str:
    """Run ``command`` as printed from ``cwd``; fails unless it exits with 0. Returns what it printed."""
    program, argv = command.program_argv()
    words = command.argv
    if words[0] == "accelerate" or program is None:
        if words[0] == "accelerate":  # the printed launch options and script, on a port of its own
            port = ["--main_process_port", str(free_port())]
            launched = [sys.executable, "-m", "accelerate.commands.launch", *port, *words[2:]]
        else:
            launched = [sys.executable, *words[1:]]
        completed = subprocess.run(launched, cwd=cwd, env=subprocess_env(), capture_output=True, text=True,
                                   timeout=900, stdin=subprocess.DEVNULL)
        printed, status = completed.stdout + completed.stderr, completed.returncode
    else:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            try:
                status = script_main(program)(argv)
            except SystemExit as error:  # argparse and the commands' own error exits
                status = error.code
        printed = buffer.getvalue()
    assert status == 0, f"{command.where}: `{command.text}` exited with {status}:\n{printed[-4000:]}"
    return printed


def provide_inputs(command: ReadmeCommand, chain: list[ReadmeCommand], written: list[str], provided: set[str],
                   checkout: Path, request) -> None:
    """Build the fixture for each path ``command`` reads that no earlier command of the chain wrote."""
    for path in command.reads():
        if any(inside(path, made) for made in written):
            continue
        keys = [key for key in INPUTS if inside(path, key)]
        assert keys, (
            f"{command.where}: `{command.text}` reads {path}, which no earlier command of the README writes and no "
            "fixture provides (add one to INPUTS in tests/test_readme_commands.py)"
        )
        key = max(keys, key=len)
        if key not in provided:
            readers = [other for other in chain if any(inside(read, key) for read in other.reads())]
            INPUTS[key](checkout / key, readers, request)
            provided.add(key)


@pytest.mark.parametrize("chain", CHAINS, ids=chain_id)
def test_readme_commands_run_as_printed(chain, tmp_path, monkeypatch, request):
    checkout = lay_out(tmp_path, request)
    monkeypatch.chdir(checkout)
    monkeypatch.setenv("EMOJE_CACHE_DIR", str(tmp_path / "feature-cache"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")  # MELD is never downloaded
    monkeypatch.delenv("EMOJE_SHARED_DIR", raising=False)  # ../shared is the scratch one
    written: list[str] = []
    provided = set(ALWAYS)
    for command in chain:
        provide_inputs(command, chain, written, provided, checkout, request)
        program, argv = command.program_argv()
        outputs = PROGRAMS[program].outputs(argv) if program in PROGRAMS else []
        for output in outputs:  # an alternative to an earlier command of the chain: a fresh output
            if os.path.lexists(output):
                os.rename(output, f"{output}.before-{command.line}")
        started = time.perf_counter()
        printed = run_printed(command, checkout)
        print(f"{command.where} ({time.perf_counter() - started:.1f} s): {command.text}")  # shown with -rP / -s
        if program in PROGRAMS:
            PROGRAMS[program].check(argv, printed)
        written += outputs


# ------------------------------------------------------------------------------------------ what is covered


def test_every_command_is_run_or_listed_with_a_reason():
    chained = {canonical(command.text) for chain in CHAINS for command in chain}
    for doc, commands in RUN_COMMANDS.items():
        for command in commands:
            program, _ = command.program_argv()
            if not_run_reason(command.text) is None:
                assert canonical(command.text) in chained, f"{command.where}: `{command.text}`: not run, not in NOT_RUN"
                assert program in PROGRAMS or command.argv[0] == "python", (
                    f"{command.where}: no product check for {program!r} (add it to PROGRAMS)"
                )
    everything = [command.text for commands in RUN_COMMANDS.values() for command in commands]
    for pattern in NOT_RUN:
        assert any(re.search(pattern, text) for text in everything), f"NOT_RUN {pattern!r} matches no README command"
    # the multi-process lines on CPU run, the GPU ones do not
    launched = [text for text in everything if text.startswith("accelerate launch")]
    assert any("cpu_2proc.yaml" in text for text in launched if canonical(text) in chained)
    assert not [text for text in launched if "cpu_2proc.yaml" in text and canonical(text) not in chained]


def test_what_each_command_reads_is_made_before_it():
    """Each path a command reads is written by an earlier command of its chain or provided by `INPUTS`, and a chain
    keeps the README's order (prepare, then train, then evaluate / predict)."""
    for chain in CHAINS:
        assert [command.line for command in chain] == sorted(command.line for command in chain)
        for index, command in enumerate(chain):
            for path in command.reads():
                writers = [other for other in chain[:index] if any(inside(path, made) for made in other.writes())]
                assert writers or any(inside(path, key) for key in INPUTS), (
                    f"{command.where}: `{command.text}` reads {path}, which no earlier command writes and INPUTS lacks"
                )
    programs = [[command.program_argv()[0] for command in chain] for chain in CHAINS]
    assert any(names[:3] == ["emoje-prepare", "emoje-train", "emoje-evaluate"] for names in programs), programs


