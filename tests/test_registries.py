"""One place per kind of thing: a corpus, a model or a modality is named literally only where it is declared.

The three registries are `dataset_scripts.corpora` (each corpus module ends with its `CORPUS` entry),
`modeling_emoje.model_specs` (each modeling file ends with its `MODEL_SPEC`) and the modality table of
`modeling_emoje.modalities`. Everything else reads them. This test enumerates each registry and reads every string
literal of the package code (docstrings and comments are prose and do not count): a literal that names a registered
corpus, model type or modality outside its owners fails, unless `ALLOWED` below says why it is deliberate.

What is not checked, and why: the corpus names ``features`` and ``conversations`` are also ordinary words of the code
(a processor's ``text_input="features"``, a progress bar's unit); ``text`` and ``audio`` are also the names of the raw
turn fields and dataset columns the text and audio modalities are extracted from (`Modality.source`), which every
reader of a turn or a row names. ``face`` and ``body`` are checked everywhere.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import dataset_scripts
import modeling_emoje  # noqa: F401  (registers the package's models)
from dataset_scripts.corpora import corpora
from modeling_emoje.modalities import MODALITIES
from modeling_emoje.model_specs import model_specs
from tests.synthetic_data import REPO_ROOT

PACKAGES = ("modeling_emoje", "dataset_scripts", "training", "model_cards")
GENERIC_WORDS = {"features", "conversations", "text", "audio"}  # see the module docstring
# (file, literal) -> why naming it there is deliberate.
ALLOWED: dict[tuple[str, str], str] = {
    # the package's name, which is also AM^2-EmoJE's model_type
    ("model_cards/card.py", "emoje"): "the Hub tag of the library, not the model type",
    ("dataset_scripts/schema.py", "emoje"): "the key of the package's metadata in a prepared dataset",
    ("modeling_emoje/model_specs.py", "emoje"): "the registry's default model (DEFAULT_MODEL_TYPE)",
    # MELD's download lives beside its reader
    ("dataset_scripts/meld_download.py", "meld"): "the download cache folder of the MELD corpus module",
    ("dataset_scripts/meld_download.py", "emoje"): "the package's cache folder (~/.cache/emoje)",
    ("dataset_scripts/feature_cache.py", "emoje"): "the package's cache folder (~/.cache/emoje)",
    ("modeling_emoje/configuration_emoje.py", "synthetic"): "the word a config's trained_on note is searched for",
    # the demo is built on one real corpus and one generated one, by design
    ("training/cli/demo.py", "meld"): "emoje-demo --corpus choices",
    ("training/cli/demo.py", "synthetic"): "emoje-demo --corpus choices",
    ("training/demo/corpus.py", "meld"): "the demo trains on MELD's text annotations",
    ("training/demo/corpus.py", "synthetic"): "the demo's fallback corpus",
    ("training/demo/run.py", "meld"): "the demo trains on MELD's text annotations",
    ("training/demo/run.py", "synthetic"): "the demo's fallback corpus",
    # the synthetic generator gives each modality its own signal strength
    ("dataset_scripts/synthetic.py", "face"): "per-modality signal presets of the generated corpus",
    ("dataset_scripts/synthetic.py", "body"): "per-modality signal presets of the generated corpus",
    # the face/body extractor and its routing: the video processor runs FaceMesh (face) and Pose (body)
    ("modeling_emoje/video_processing_emoje.py", "face"): "the face/body extractor",
    ("modeling_emoje/video_processing_emoje.py", "body"): "the face/body extractor",
    ("modeling_emoje/turn_media.py", "face"): "never runs FaceMesh when the scenario drops the face",
    ("modeling_emoje/processing_emoje.py", "face"): "face arrays given in a turn are dropped in privacy mode",
    # CM-ARR's published protocol: the three-mode conditions (visual = face + body)
    ("training/evaluation/scenarios.py", "face+body"): "CM-ARR's visual mode in its six conditions",
}


def _owner_files() -> dict[str, set[str]]:
    """literal -> the package files that declare it (relative paths)."""
    owners: dict[str, set[str]] = {name: {"modeling_emoje/modalities.py"} for name in MODALITIES}
    for spec in model_specs():
        files = {spec.config_class, spec.model_class, spec.base_model_class}
        owners.setdefault(spec.model_type, set()).update(
            _relative(inspect.getsourcefile(cls)) for cls in files if cls is not None and _inside(cls)
        )
    # A model's own files may name the modalities its architecture treats apart (AM^2-EmoJE attends from body to face,
    # CM-ARR groups face and body into one visual mode); a corpus module says which of its columns is which modality.
    models = set().union(*(owners[spec.model_type] for spec in model_specs() if spec.model_type in owners))
    for corpus in corpora():
        module = _module_declaring(corpus)
        owners.setdefault(corpus.name, set()).add(module)
        models.add(module)
    for name in MODALITIES:
        owners[name] |= models
    return owners


def _inside(cls) -> bool:
    return cls.__module__.split(".")[0] in PACKAGES


def _relative(path: str | None) -> str:
    return str(Path(path).resolve().relative_to(REPO_ROOT))


def _module_declaring(corpus) -> str:
    for path in (REPO_ROOT / "dataset_scripts").glob("*.py"):
        module = getattr(dataset_scripts, path.stem, None)
        if module is not None and getattr(module, "CORPUS", None) is corpus:
            return f"dataset_scripts/{path.name}"
    raise AssertionError(f"corpus {corpus.name!r} is registered by no dataset_scripts module's CORPUS")


def _string_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_the_registries_hold_what_the_package_has():
    assert {spec.model_type for spec in model_specs()} >= {"emoje", "cmarr"}
    assert {corpus.name for corpus in corpora()} >= {"meld", "iemocap", "msp-improv", "conversations", "features"}
    assert MODALITIES == ("text", "audio", "face", "body")


def test_no_place_outside_a_registry_names_a_corpus_model_or_modality():
    owners = _owner_files()
    watched = set(owners) - GENERIC_WORDS | {"face+body"}
    found = []
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            relative = _relative(str(path))
            for line, value in _string_literals(path):
                if value in watched and relative not in owners.get(value, set()) and (relative, value) not in ALLOWED:
                    found.append(f"{relative}:{line} names {value!r}")
    assert not found, "read the registry instead (or add a reason to ALLOWED):\n" + "\n".join(found)


@pytest.mark.parametrize("key", sorted(ALLOWED))
def test_every_allowed_literal_is_still_used(key):
    """An exception that no longer applies is removed, so the list stays the list of deliberate cases."""
    relative, value = key
    assert value in {literal for _, literal in _string_literals(REPO_ROOT / relative)}, key
