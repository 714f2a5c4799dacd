"""Issue 16 (training side): nothing silently wrong, nothing lost.

Each test feeds emoje-train / emoje-evaluate / the model loader one bad input or fault and asserts what could
go wrong: a wrong score with exit 0 (label maps, mismatching weights), lost files (output folders, checkpoint
rotation, damaged checkpoints) or a traceback where a one-line error naming the option/file is due.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from modeling_emoje.model_folder import load_model
from tests.synthetic_data import one_thread, train_args, write_corpus  # noqa: F401  (one_thread: autouse fixture)
from training.cli.evaluate import main as evaluate_main
from training.cli.train import main as train_main
from training.evaluation.evaluate import evaluate_model
from training.train.data import load_prepared_data
from training.train.labels import LabelMapError
from training.train.run import run
from training.train.run_folder import RUN_RECORD, read_run_record


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("data") / "tiny", num_dialogues=(8, 3, 5))


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory) -> Path:
    """A finished 6-step run (checkpoints every 2 steps; the exported model in its `model/` folder)."""
    output = tmp_path_factory.mktemp("runs") / "trained"
    run(train_args(corpus, output, "--eval_scenarios", "full"))
    return output


def relabelled_copy(source: Path, target: Path, names: list[str], new_id) -> Path:
    """A copy of a prepared corpus whose ``label`` ClassLabel has ``names``; old label id i becomes ``new_id(i)``."""
    from datasets import ClassLabel
    from dataset_scripts import save_prepared

    data = load_prepared_data(source)
    for split in list(data):
        features = data[split].features.copy()
        features["label"] = ClassLabel(names=names)
        data[split] = data[split].map(lambda row: {"label": new_id(row["label"])}, features=features)
    save_prepared(data, target)
    return target


def reversed_labels(corpus: Path, target: Path) -> Path:
    """The same corpus, every utterance keeping its emotion, with the label list in reverse order."""
    names = load_prepared_data(corpus)["train"].features["label"].names
    reordered = names[::-1]
    return relabelled_copy(corpus, target, reordered, lambda i: reordered.index(names[i]))


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(captured: str, *needles: str) -> str:
    """The stderr of a CLI that failed with a sentence: no traceback, one ``error:`` line naming ``needles``."""
    assert "Traceback" not in captured, captured[-2000:]
    lines = [line for line in captured.splitlines() if "error:" in line]
    assert len(lines) == 1, captured[-2000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# ----------------------------------------------------------------------------------------------- 1. label maps


def test_evaluate_remaps_labels_in_another_order_to_the_same_scores(trained, corpus, tmp_path, caplog):
    reordered = reversed_labels(corpus, tmp_path / "reordered")
    assert evaluate_main(["--model", str(trained / "model"), "--data", str(corpus), "--output", str(tmp_path / "a.json")]) == 0
    assert evaluate_main(["--model", str(trained / "model"), "--data", str(reordered), "--output", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text()) == json.loads((tmp_path / "a.json").read_text())
    assert "another order" in caplog.text and "remapping" in caplog.text


@pytest.mark.parametrize("kind", ["fewer_labels", "renamed_labels"])
def test_evaluate_refuses_data_with_other_labels(trained, corpus, tmp_path, capsys, kind):
    names = load_prepared_data(corpus)["train"].features["label"].names
    if kind == "fewer_labels":  # e.g. a 3-label sentiment corpus against a 4-label emotion model
        other = relabelled_copy(corpus, tmp_path / kind, names[:-1], lambda i: i % (len(names) - 1))
    else:  # the same number of labels, other names (e.g. IEMOCAP's against MELD's)
        other = relabelled_copy(corpus, tmp_path / kind, [f"other{i}" for i in range(len(names))], lambda i: i)
    output = tmp_path / "results.json"
    assert evaluate_main(["--model", str(trained / "model"), "--data", str(other), "--output", str(output)]) == 2
    line = one_line_error(capsys.readouterr().err, str(trained / "model"), str(names))
    assert "not the labels" in line and not output.exists()


def test_evaluate_model_refuses_other_labels_in_python_too(trained, corpus, tmp_path):
    names = load_prepared_data(corpus)["train"].features["label"].names
    other = relabelled_copy(corpus, tmp_path / "other", names[:-1], lambda i: i % (len(names) - 1))
    with pytest.raises(LabelMapError, match=r"only in the model"):
        evaluate_model(load_model(trained / "model"), load_prepared_data(other)["test"], "full")


def test_resume_on_reordered_labels_keeps_the_checkpoint_order(trained, corpus, tmp_path):
    """The exported model's id2label still matches its weights: it scores the original and the reordered data alike."""
    reordered = reversed_labels(corpus, tmp_path / "reordered")
    output = tmp_path / "resumed"
    checkpoint = str(trained / "checkpoint-6")
    summary = run(train_args(reordered, output, "--resume_from_checkpoint", checkpoint, "--eval_scenarios", "full", max_steps=8))
    assert summary["resumed_from"] == checkpoint and summary["global_step"] == 8
    original_order = load_prepared_data(corpus)["train"].features["label"].names
    config = json.loads((output / "model" / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(len(original_order))] == original_order
    model = load_model(output / "model")
    on_original = evaluate_model(model, load_prepared_data(corpus)["test"], "full")
    on_reordered = evaluate_model(model, load_prepared_data(reordered)["test"], "full")
    assert on_original == on_reordered and on_original["scenarios"] == summary["evaluation"]["scenarios"]
    assert summary["evaluation"]["selection"]["metric"] == "scenario_mean_weighted_f1"  # what the checkpoint was chosen for


def test_resume_on_other_labels_is_refused(trained, corpus, tmp_path, capsys):
    names = load_prepared_data(corpus)["train"].features["label"].names
    other = relabelled_copy(corpus, tmp_path / "other", names[:-1], lambda i: i % (len(names) - 1))
    argv = train_args(other, tmp_path / "out", "--resume_from_checkpoint", str(trained / "checkpoint-6"))
    assert train_main(argv) == 2
    one_line_error(capsys.readouterr().err, "checkpoint-6", str(names), str(names[:-1]))
    assert not (tmp_path / "out" / "config.json").exists()


# ----------------------------------------------------------------------------------------------- 2. output folders


def user_folder(path: Path) -> Path:
    path.mkdir()
    (path / "README.md").write_text("my notes\n")
    (path / "config.json").write_text('{"mine": true}\n')
    (path / "checkpoint-notes").mkdir()
    (path / "checkpoint-notes" / "todo.txt").write_text("keep me\n")
    (path / "checkpoint-2.bak").mkdir()
    return path


def test_train_refuses_a_folder_with_files_it_did_not_write(corpus, tmp_path, capsys):
    folder = user_folder(tmp_path / "mine")
    before = snapshot(folder)
    assert train_main(train_args(corpus, folder)) == 2
    one_line_error(capsys.readouterr().err, str(folder), "--overwrite_output_dir", "README.md")
    assert snapshot(folder) == before and not (folder / RUN_RECORD).exists()


def test_overwrite_output_dir_never_deletes_what_it_did_not_write(corpus, tmp_path):
    """Checkpoint rotation (save_total_limit 1, a checkpoint every step) leaves the user's folders alone."""
    folder = user_folder(tmp_path / "mine")
    run(train_args(corpus, folder, "--overwrite_output_dir", "true", "--save_total_limit", "1", max_steps=4, save_steps=1))
    assert (folder / "checkpoint-notes" / "todo.txt").read_text() == "keep me\n"
    assert (folder / "checkpoint-2.bak").is_dir()
    record = read_run_record(folder)
    kept = sorted(p.name for p in folder.glob("checkpoint-*") if p.name[11:].isdigit())
    assert kept == record["checkpoints"] and len(kept) == 1


def test_another_runs_folder_is_not_resumed(trained, corpus, tmp_path, capsys):
    folder = copy_run(trained, tmp_path / "other_run")
    before = snapshot(folder)
    assert train_main(train_args(corpus, folder, "--dropout", "0.3")) == 2
    one_line_error(capsys.readouterr().err, str(folder), "another emoje-train run", "model_options", "--overwrite_output_dir")
    assert snapshot(folder) == before

    summary = run(train_args(corpus, folder, "--dropout", "0.3", "--overwrite_output_dir", "true", max_steps=2))
    assert summary["resumed_from"] is None and summary["global_step"] == 2
    assert read_run_record(folder)["run"]["model_options"]["dropout"] == 0.3


def test_fresh_start_over_own_checkpoints_needs_overwrite(trained, corpus, tmp_path, capsys):
    folder = copy_run(trained, tmp_path / "again")
    assert train_main(train_args(corpus, folder, "--resume", "false")) == 2
    one_line_error(capsys.readouterr().err, "--resume false", "--overwrite_output_dir")


# ----------------------------------------------------------------------------------------------- 6. weights


def test_weights_that_do_not_fit_the_config_are_an_error_naming_the_file(trained, tmp_path, corpus, capsys):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(trained / "model" / name, model_dir / name)
    config = json.loads((model_dir / "config.json").read_text())
    config["hidden_size"] = 32
    (model_dir / "config.json").write_text(json.dumps(config))
    assert evaluate_main(["--model", str(model_dir), "--data", str(corpus)]) == 2
    one_line_error(capsys.readouterr().err, str(model_dir / "model.safetensors"), "shape mismatches", "file (")

    config["hidden_size"] = 16
    (model_dir / "config.json").write_text(json.dumps(config))
    weights = load_file(model_dir / "model.safetensors")
    renamed = {("renamed." + key if index == 0 else key): value for index, (key, value) in enumerate(sorted(weights.items()))}
    save_file(renamed, model_dir / "model.safetensors")
    with pytest.raises(ValueError, match=r"model.safetensors does not fit .*missing keys .*unexpected keys \['renamed\."):
        load_model(model_dir)


def test_truncated_model_weights_name_the_file(trained, tmp_path, corpus, capsys):
    model_dir = copy_run(trained / "model", tmp_path / "model")
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    assert evaluate_main(["--model", str(model_dir), "--data", str(corpus)]) == 2
    one_line_error(capsys.readouterr().err, str(weights), "truncated")


def test_resuming_with_another_architecture_is_one_line(trained, corpus, tmp_path, capsys):
    argv = train_args(corpus, tmp_path / "out", "--resume_from_checkpoint", str(trained / "checkpoint-6"))
    argv[argv.index("--hidden_size") + 1] = "32"
    assert train_main(argv) == 2
    one_line_error(capsys.readouterr().err, str(trained / "checkpoint-6" / "model.safetensors"), "shape mismatches")


# ----------------------------------------------------------------------------------------------- 8. one-line errors


@pytest.mark.parametrize("value, problem", [("abc", "expects an integer"), ("-4", "must not be negative"), ("2.5", "expects an integer")])
def test_bad_model_option_values(corpus, tmp_path, capsys, value, problem):
    argv = train_args(corpus, tmp_path / "out")
    argv[argv.index("--hidden_size") + 1] = value
    assert train_main(argv) == 2
    one_line_error(capsys.readouterr().err, "--hidden_size", problem, repr(value) if value == "abc" else value)
    assert not (tmp_path / "out").exists()


def test_float_options_written_without_a_dot_are_numbers(corpus):
    from training.train.options import parse_arguments

    _, _, options = parse_arguments(["--data", str(corpus), "--output-dir", "unused", "--dropout", "1e-1"])
    assert options == {"dropout": 0.1}


def test_yaml_syntax_error_names_the_file_and_line(corpus, tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("model:\n  hidden_size: 16\n training: [oops\n")
    assert train_main(["--config", str(config), *train_args(corpus, tmp_path / "out")]) == 2
    one_line_error(capsys.readouterr().err, str(config), "not valid YAML", "line 3")


def test_evaluate_output_that_is_a_folder_fails_before_evaluating(trained, corpus, tmp_path, capsys, monkeypatch):
    import modeling_emoje.model_folder

    monkeypatch.setattr(modeling_emoje.model_folder, "load_model", lambda *a, **k: pytest.fail("evaluated before checking --output"))
    assert evaluate_main(["--model", str(trained / "model"), "--data", str(corpus), "--output", str(tmp_path)]) == 2
    one_line_error(capsys.readouterr().err, "--output", str(tmp_path), "is a folder")


def test_unknown_model_type_is_named_without_a_prompt(trained, corpus, tmp_path, capsys, monkeypatch):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    shutil.copy(trained / "model" / "model.safetensors", model_dir / "model.safetensors")
    config = json.loads((trained / "model" / "config.json").read_text())
    config["model_type"] = "emojee"
    (model_dir / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr("builtins.input", lambda *a: pytest.fail("asked a question"))
    assert evaluate_main(["--model", str(model_dir), "--data", str(corpus)]) == 2
    one_line_error(capsys.readouterr().err, str(model_dir / "config.json"), "'emojee'", "model_type")


# ----------------------------------------------------------------------------------------------- 9. partial checkpoints


def test_partial_checkpoint_is_skipped_and_set_aside(trained, corpus, tmp_path, caplog):
    """A kill while saving checkpoint-6 (no trainer_state.json yet): the rerun resumes from the previous complete
    checkpoint and keeps the partial one as damaged-checkpoint-6, out of the run record."""
    folder = copy_run(trained, tmp_path / "killed")
    (folder / "checkpoint-6" / "trainer_state.json").unlink()
    partial = snapshot(folder / "checkpoint-6")
    previous = max((p for p in folder.glob("checkpoint-*") if p.name != "checkpoint-6"), key=lambda p: int(p.name[11:]))
    summary = run(train_args(corpus, folder, "--eval_scenarios", "full"))
    assert summary["resumed_from"] == str(previous) and summary["global_step"] == 6
    assert snapshot(folder / "damaged-checkpoint-6") == partial
    assert "damaged-checkpoint-6" not in read_run_record(folder)["checkpoints"]
    assert "trainer_state.json is missing" in caplog.text and "damaged-checkpoint-6" in caplog.text


@pytest.mark.parametrize("fault", ["config_changed", "truncated"])
def test_pipeline_and_auto_loading_refuse_weights_that_do_not_fit(trained, tmp_path, fault):
    """`from_pretrained` of the package's models (pipeline(), Auto classes, remote code) never loads random weights."""
    import modeling_emoje  # noqa: F401  (registers the pipeline task)
    from transformers import AutoModelForSequenceClassification, pipeline

    model_dir = copy_run(trained / "model", tmp_path / "model")
    weights = model_dir / "model.safetensors"
    if fault == "config_changed":
        config = json.loads((model_dir / "config.json").read_text())
        config["hidden_size"] = 32
        (model_dir / "config.json").write_text(json.dumps(config))
        expected = r"do not fit config.json \(shape mismatches .*file \(16"
    else:
        weights.write_bytes(weights.read_bytes()[:-64])
        expected = rf"{weights}: truncated or damaged"
    with pytest.raises(ValueError, match=expected):
        AutoModelForSequenceClassification.from_pretrained(model_dir)
    with pytest.raises(ValueError, match=expected):
        pipeline("emotion-recognition-in-conversation", model=str(model_dir))


def test_overwriting_a_folder_keeps_the_checkpoint_it_resumes(trained, corpus, tmp_path):
    """--overwrite_output_dir deletes the other run's recorded checkpoints, but never the one named to resume from."""
    folder = copy_run(trained, tmp_path / "other_run")
    start = folder / "checkpoint-6"
    summary = run(train_args(
        corpus, folder, "--dropout", "0.3", "--overwrite_output_dir", "true", "--resume_from_checkpoint", str(start),
        "--save_total_limit", "5", max_steps=8,
    ))
    assert summary["resumed_from"] == str(start) and summary["global_step"] == 8
    assert start.is_dir() and read_run_record(folder)["checkpoints"] == ["checkpoint-8"]


def test_a_checking_process_beside_the_writer_sees_the_record_with_the_files(tmp_path, monkeypatch):
    """Two-process runs: the main process claims --output-dir (writes the run record) while the other process only
    checks it. Whenever the checker sees a file of this run, it must see the record too (no "files emoje-train did
    not write" error): here the main process writes the record just as the checker lists the folder."""
    from training.train import run_folder

    identity = run_folder.run_identity(tmp_path / "data", "emoje", None, None, {"hidden_size": 8})
    output = tmp_path / "run"
    output.mkdir()
    listed = run_folder._contents

    def main_process_writes_then_list(folder):
        if not (output / run_folder.RUN_RECORD).exists():
            run_folder.write_run_record(output, run_folder._new_record(identity))  # the main process, meanwhile
        return listed(folder)

    monkeypatch.setattr(run_folder, "_contents", main_process_writes_then_list)
    record = run_folder.claim_output_dir(output, identity, overwrite=False, resume=True, write=False)
    assert record["run_id"] == run_folder.run_id(identity)


# ----------------------------------------------------------------------------------------------- 10. finished runs


def test_rerunning_a_finished_command_trains_nothing_and_deletes_nothing(trained, corpus, tmp_path, capsys):
    folder = copy_run(trained, tmp_path / "finished")
    (folder / "model").rename(tmp_path / "elsewhere")  # the copy's record names the original export: re-export here
    record = read_run_record(folder)
    record["finished"]["model_dir"] = str((folder / "model").resolve())
    shutil.copytree(tmp_path / "elsewhere", folder / "model")
    from training.train.run_folder import write_run_record

    write_run_record(folder, record)
    before = snapshot(folder)
    summary = run(train_args(corpus, folder, "--eval_scenarios", "full"))
    assert summary["already_finished"] and summary["global_step"] == 6
    assert snapshot(folder) == before  # no step 7, no checkpoint deleted, the export untouched
    assert "already finished (step 6)" in capsys.readouterr().out
    more = run(train_args(corpus, folder, "--eval_scenarios", "full", max_steps=8))  # a longer plan continues the run
    assert not more["already_finished"] and more["global_step"] == 8 and more["resumed_from"].endswith("checkpoint-6")


def test_the_export_folder_never_holds_the_checkpoints(corpus, tmp_path, capsys):
    argv = train_args(corpus, tmp_path / "run", "--export-dir", str(tmp_path / "run"))
    assert train_main(argv) == 2
    one_line_error(capsys.readouterr().err, "--export-dir", "would hold --output-dir")
    assert not (tmp_path / "run").exists()


def test_the_export_is_a_hub_folder_beside_the_training_state(trained):
    assert sorted(path.name for path in (trained / "model").iterdir() if path.name.startswith(("checkpoint", "emoje_run"))) == []
    assert (trained / "checkpoint-6").is_dir() and (trained / "emoje_run.json").is_file()


def test_a_checkpoint_with_pickled_rng_state_is_set_aside_not_loaded(trained, corpus, tmp_path, caplog):
    """Issue 27: an rng_state.pth holding pickled objects (not plain tensors) is never unpickled: the checkpoint is
    skipped and set aside like a damaged one, naming the file, and the run resumes from the one before."""
    import torch

    folder = copy_run(trained, tmp_path / "tampered")
    torch.save({"hook": print}, folder / "checkpoint-6" / "rng_state.pth")
    previous = max((p for p in folder.glob("checkpoint-*") if p.name != "checkpoint-6"), key=lambda p: int(p.name[11:]))
    summary = run(train_args(corpus, folder, "--eval_scenarios", "full"))
    assert summary["resumed_from"] == str(previous) and summary["global_step"] == 6
    assert (folder / "damaged-checkpoint-6" / "rng_state.pth").is_file()
    assert "rng_state.pth cannot be loaded as plain tensors" in caplog.text
