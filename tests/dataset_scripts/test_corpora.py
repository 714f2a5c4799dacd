"""The corpus registry: what each corpus declares, lookups and their messages, `corpus_of`, and a new corpus added
without touching the package (a module of its own, registered from here, built by `emoje-prepare`)."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest

import dataset_scripts
from dataset_scripts import conversations, feature_table, iemocap, meld, msp_improv, ravdess, synthetic
from dataset_scripts import corpora as registry
from dataset_scripts import load_prepared, read_prepared_metadata
from dataset_scripts.cli import _buildable, _parser, main
from dataset_scripts.corpora import (
    Corpus,
    build_corpus,
    corpora,
    corpus_of,
    get_corpus,
    get_protocol,
    list_protocols,
    register_corpus,
)
from dataset_scripts.corpus_builder import CorpusBuilder
from dataset_scripts.protocols import DIALOGUE_SEPARATION, Protocol, identity_map, split_official
from dataset_scripts.schema import UtteranceRecord

PACKAGE = Path(dataset_scripts.__file__).parent


def test_every_corpus_module_registers_itself_in_order():
    assert [corpus.name for corpus in corpora()] == [
        "meld", "iemocap", "msp-improv", "conversations", "features", "ravdess", "synthetic",
    ]
    assert [p.id for p in list_protocols()][:3] == ["meld/emotion", "meld/episodes", "meld/sentiment"]
    modules = (meld, iemocap, msp_improv, conversations, feature_table, ravdess, synthetic)
    assert [module.CORPUS for module in modules] == list(corpora())  # each declared in its own module, as `CORPUS`
    for corpus in corpora():
        assert all(protocol.corpus == corpus.name for protocol in corpus.protocols)
        assert corpus.get_protocol() is get_protocol(corpus.name)
        assert corpus.get_protocol().name == corpus.default_protocol


def test_label_sets_live_in_the_corpus_entries():
    assert get_corpus("meld").label_sets == {
        "emotion": ("neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"),
        "episodes": ("neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"),
        "sentiment": ("neutral", "positive", "negative"),
    }
    assert get_corpus("msp_improv").label_sets["loso"] == ("angry", "happy", "sad", "neutral")
    assert get_corpus("ravdess").label_sets["actor"][:2] == ("neutral", "calm")
    assert get_corpus("conversations").label_sets == {} and get_corpus("conversations").takes_labels
    assert not get_corpus("iemocap").takes_labels
    assert get_protocol("synthetic").label_names == ("neutral", "joy", "sadness", "anger")


def test_card_text_and_hub_ids():
    meld = get_corpus("meld")
    assert meld.display_name == "MELD" and meld.hub_dataset_id == "declare-lab/MELD"
    assert meld.citation_bibtex.startswith("@inproceedings{poria2019meld,") and "GPL-3.0" in meld.terms
    assert get_corpus("iemocap").citation_bibtex.startswith("@article{busso2008iemocap,")
    assert get_corpus("msp-improv").citation_bibtex.startswith("@article{busso2017mspimprov,")
    assert [c.name for c in corpora() if c.hub_dataset_id] == ["meld"]
    assert [c.name for c in corpora() if c.terms] == ["meld", "iemocap", "msp-improv"]
    assert {p.id for p in list_protocols() if p.extra.get("three_mode")} == {
        "iemocap/mer4", "iemocap/mer4-speaker", "msp-improv/loso", "msp-improv/loso-speaker",
    }


def test_lookups_fail_with_one_message_naming_the_choices():
    with pytest.raises(ValueError, match=r"unknown protocol 'x' for corpus 'meld'; choose one of \['emotion', 'episodes', "):
        get_protocol("meld", "x")
    with pytest.raises(ValueError, match=r"unknown protocol None for corpus 'nope'; choose one of \[\]"):
        get_protocol("nope")
    assert list_protocols("nope") == []
    with pytest.raises(ValueError, match=r"unknown corpus 'nope'; expected one of \('meld', 'iemocap'"):
        get_corpus("nope")
    buildable = r"\('meld', 'iemocap', 'msp-improv', 'conversations'\)"
    with pytest.raises(ValueError, match=rf"unknown corpus 'ravdess'; expected one of {buildable}"):
        build_corpus("ravdess", ".")  # registered, but not built from a folder
    with pytest.raises(ValueError, match=r"--labels only applies to the conversations corpus \(the meld label set"):
        build_corpus("meld", ".", labels=["a"])


@pytest.mark.parametrize(
    "texts, expected",
    [
        (("MSP-IMPROV",), "msp-improv"),
        (("msp_improv/loso/fold3",), "msp-improv"),
        (("data/iemocap_mer4",), "iemocap"),
        (("runs/meld-text",), "meld"),
        (("user conversations",), "conversations"),
        (("RAVDESS", "ravdess/actor"), "ravdess"),
        (("emoje synthetic conversations",), "synthetic"),  # the earliest name wins
        ((None, "", "synthetic features — not for real input"), "synthetic"),
        (("IEMOCAP", "meld/emotion"), "iemocap"),  # the first text that names one wins
        (("melding", "mspimprovised", "my own corpus"), None),
    ],
)
def test_corpus_of_reads_ids_and_display_names_as_whole_words(texts, expected):
    found = corpus_of(*texts)
    assert (found.name if found else None) == expected


def test_a_corpus_entry_is_checked_when_declared():
    protocol = Protocol("toy", "all", ("a", "b"), identity_map("ab"), 0, split_official, DIALOGUE_SEPARATION)
    with pytest.raises(ValueError, match="default protocol 'other' is not one of"):
        Corpus("toy", "Toy", (protocol,), "other", "a toy corpus")
    with pytest.raises(ValueError, match="needs protocols of its own"):
        Corpus("toy2", "Toy", (protocol,), "all", "a toy corpus")
    with pytest.raises(ValueError, match="without '/' or '_'"):
        Corpus("toy_corpus", "Toy", (protocol,), "all", "a toy corpus")
    with pytest.raises(ValueError, match="a corpus named 'meld' is already registered"):
        register_corpus(Corpus("meld", "Other", (replace(protocol, corpus="meld"),), "all", "another meld"))


# ---------------------------------------------------------------------- a new corpus, no package file touched


class ToyBuilder(CorpusBuilder):
    """`toy.tsv`: dialogue, speaker, text, label, split per line."""

    corpus = "toy"

    def read_records(self) -> list[UtteranceRecord]:
        records = []
        for line_number, line in enumerate((self.data_dir / "toy.tsv").read_text().splitlines(), start=1):
            dialogue, speaker, text, label, split = line.split("\t")
            order = sum(r.dialogue_id == dialogue for r in records)
            records.append(UtteranceRecord(f"{dialogue}/{order}", dialogue, speaker, text, label, official_split=split,
                                           order=(order,), origin=f"toy.tsv:{line_number}"))
        return records


def build_toy(data_dir, protocol=None, fold=None, **options):
    return ToyBuilder(data_dir, protocol, fold, **options).build()


def toy_command(argv) -> int:
    print(f"toy-command {' '.join(argv)}")
    return 3


@pytest.fixture
def toy_registered(monkeypatch):
    """What a corpus module `toy.py` declares at its end, registered into a copy of the registry."""
    monkeypatch.setattr(registry, "_CORPORA", dict(registry._CORPORA))
    protocols = (
        Protocol("toy", "moods", ("calm", "upset"), {"calm": "calm", "angry": "upset", "sad": "upset"}, 0,
                 split_official, DIALOGUE_SEPARATION, description="toy moods, the file's split"),
        Protocol("toy", "raw", ("angry", "calm", "sad"), identity_map(("angry", "calm", "sad")), 0, split_official,
                 DIALOGUE_SEPARATION, description="toy, its own labels"),
    )
    toy = register_corpus(Corpus("toy", "Toy Corpus", protocols, "moods", "a toy corpus", build=build_toy))
    register_corpus(Corpus("toy-tables", "toy table", (replace(protocols[0], corpus="toy-tables"),), "moods", "",
                           add_cli=f"{__name__}:toy_command"))
    return toy


def _write_toy(folder: Path) -> Path:
    folder.mkdir()
    lines = [
        ("d1", "ann", "hello", "calm", "train"), ("d1", "bob", "no!", "angry", "train"),
        ("d2", "ann", "sigh", "sad", "train"), ("d3", "bob", "fine", "calm", "validation"),
        ("d3", "ann", "grr", "angry", "validation"), ("d4", "bob", "ok", "calm", "test"),
        ("d4", "ann", "oh no", "sad", "test"),
    ]
    (folder / "toy.tsv").write_text("\n".join("\t".join(line) for line in lines) + "\n")
    return folder


def test_a_new_corpus_is_built_by_emoje_prepare_from_its_registry_entry(toy_registered, tmp_path, capsys):
    help_text = _parser().format_help()
    assert "{meld,iemocap,msp-improv,conversations,toy}" in help_text.replace("\n", "").replace(" ", "")
    assert "toy: moods (default), raw" in " ".join(help_text.split())
    data = _write_toy(tmp_path / "toy")
    assert main(["toy", "--data-dir", str(data), "--output", str(tmp_path / "out"), "--features", "none"]) == 0
    assert "toy / moods: labels calm, upset" in capsys.readouterr().out
    dataset = load_prepared(tmp_path / "out")
    assert [dataset[split].num_rows for split in ("train", "validation", "test")] == [3, 2, 2]
    assert dataset["train"].features["label"].names == ["calm", "upset"]
    assert dataset["test"]["label"] == [0, 1] and dataset["test"]["dialogue_id"] == ["d4", "d4"]
    meta = read_prepared_metadata(tmp_path / "out")
    assert (meta["corpus"], meta["protocol_id"]) == ("toy", "toy/moods")
    assert main(["toy", "--data-dir", str(data), "--output", str(tmp_path / "raw"), "--features", "none",
                 "--protocol", "raw"]) == 0
    assert load_prepared(tmp_path / "raw")["train"].features["label"].names == ["angry", "calm", "sad"]
    with pytest.raises(SystemExit) as exit_info:  # a fixed label set: --labels is refused, naming who takes it
        main(["toy", "--data-dir", str(data), "--output", str(tmp_path / "x"), "--labels", "a,b"])
    assert exit_info.value.code == 2
    assert "--labels only applies to the conversations corpus (the toy label set comes" in capsys.readouterr().err
    assert corpus_of("runs/toy_moods") is toy_registered
    # a corpus with a sub-command of its own gets `emoje-prepare NAME ...` (as `features` does)
    assert main(["toy-tables", "--anything", "x"]) == 3
    assert capsys.readouterr().out == "toy-command --anything x\n"
    assert "toy-tables" not in [corpus.name for corpus in _buildable()]
    assert "For a toy table, run `emoje-prepare toy-tables -h`." in " ".join(_parser().format_help().split())


# ---------------------------------------------------------------------- layers inside the package


def _relative_imports(path: Path) -> set[str]:
    """Sibling modules `path` imports (at any depth, `if TYPE_CHECKING:` blocks excepted)."""
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                self.generic_visit(node)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.level == 1:
                found.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
            elif node.module and node.module.startswith("dataset_scripts."):
                found.add(node.module.split(".")[1])

    Visitor().visit(ast.parse(path.read_text()))
    return found


def test_no_import_circle_inside_the_package():
    graph = {path.stem: _relative_imports(path) for path in PACKAGE.glob("*.py") if path.stem != "__init__"}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for module in graph.get(start, ()):
            if module == target or (module not in seen and reaches(module, target, seen | {module})):
                return True
        return False

    circles = sorted(module for module in graph if reaches(module, module, {module}))
    assert circles == [], f"modules on an import circle: {circles}"
    assert "schema" not in graph["output_folder"] and "protocols" not in graph["corpora"]


def test_no_package_file_over_650_lines():
    lengths = {path.name: len(path.read_text().splitlines()) for path in PACKAGE.glob("*.py")}
    assert len(lengths) > 20 and {name: n for name, n in lengths.items() if n > 650} == {}
