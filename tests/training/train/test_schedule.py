"""`--schedule auto` (training/schedule.py) and the frozen-vs-fine-tuned benchmark's bookkeeping (benchmarks/finetune.py)."""

from __future__ import annotations

import json

import pytest

from tests.synthetic_data import one_thread, train_args, write_corpus  # noqa: F401 - one_thread: autouse fixture
from training.train.schedule import SCHEDULE_FILE, ScheduleRule, dialogue_lengths


def test_short_and_long_dialogue_corpora_get_comparable_updates():
    rule = ScheduleRule()
    short = rule.derive([8, 9, 10, 11, 12] * 200)  # MELD-like: 1,000 dialogues of 10 utterances
    long = rule.derive([40, 50, 60] * 40)  # IEMOCAP-like: 120 conversations of 50
    assert short.train_window is None and short.per_device_train_batch_size == 8
    assert long.train_window == 16 and long.train_window_context == 4
    assert short.max_steps == long.max_steps == 520
    # A step sees about the same number of utterances on both (dialogue batches would give 80 vs 400).
    assert abs(short.utterances_per_step - long.utterances_per_step) / short.utterances_per_step < 0.2
    # Counting dialogues as the fixed recipe does: 8 per batch, 4 epochs -> 500 vs 60 steps.
    assert 4 * -(-1000 // 8) > 8 * 4 * -(-120 // 8)


def test_small_corpus_is_capped_at_max_passes():
    schedule = ScheduleRule.parse("auto,steps=1000,max_passes=2").derive([10] * 40)  # 5 batches per pass
    assert (schedule.max_steps, schedule.passes) == (10, 2.0)
    two = ScheduleRule().derive([10] * 1000, world_size=2)
    assert two.per_device_train_batch_size == 4 and two.world_size == 2


def test_window_arithmetic_matches_the_dataset_windows(tmp_path):
    import datasets

    from training.train.collator import DialogueDataset

    split = datasets.load_from_disk(str(write_corpus(tmp_path / "data", num_dialogues=(8, 2, 2))))["train"]
    lengths = dialogue_lengths(split)
    assert sum(lengths) == len(split)
    schedule = ScheduleRule(window=2, context=3, batch_utterances=6).derive(lengths)
    view = DialogueDataset(split).windows(2, 3)
    assert schedule.train_window == 2 and schedule.training_items == len(view)
    carried = sum(len(view[index]["labels"]) for index in range(len(view)))
    assert schedule.mean_item_utterances == round(carried / len(view), 2)


@pytest.mark.parametrize(
    "spec, message",
    [("fast", "must be 'none' or 'auto"), ("auto,steps", "field=value"), ("auto,speed=3", "field=value"),
     ("auto,steps=x", "steps expects int"), ("auto,steps=0", "steps must be >= 1"), ("auto,max_passes=0", "max_passes")],
)
def test_bad_schedule_specs_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        ScheduleRule.parse(spec)


def test_schedule_option_parses_from_config_and_command_line(tmp_path):
    from training.train.options import parse_arguments

    config = tmp_path / "c.yaml"
    config.write_text("schedule: auto\ntraining:\n  max_steps: 7\n")
    script, _, _ = parse_arguments(["--config", str(config), "--data", "d", "--output-dir", "o"])
    assert script.schedule == "auto"
    script, _, _ = parse_arguments(["--config", str(config), "--data", "d", "--output-dir", "o", "--schedule", "none"])
    assert script.schedule == "none"
    script, _, _ = parse_arguments(["--data", "d", "--output-dir", "o"])
    assert script.schedule == "none"


def test_emoje_train_applies_and_records_the_schedule(tmp_path, capsys):
    from training.train.run import run

    data = write_corpus(tmp_path / "data", num_dialogues=(6, 2, 2))
    spec = "auto,steps=3,batch_utterances=4,window=2,context=1"
    summary = run(train_args(data, tmp_path / "run", "--schedule", spec, max_steps=50))
    assert summary["global_step"] == 3  # the schedule's max_steps replaced the 50 given
    recorded = json.loads((tmp_path / "run" / SCHEDULE_FILE).read_text())
    assert recorded == summary["schedule"]
    assert recorded["train_window"] == 2 and recorded["train_window_context"] == 1 and recorded["max_steps"] == 3
    assert recorded["rule"]["batch_utterances"] == 4
    assert "schedule auto:" in capsys.readouterr().out
    assert "training windows" in (tmp_path / "run" / "model" / "README.md").read_text()


def test_finetune_benchmark_compares_with_the_frozen_recipe_chosen_on_validation(capsys):
    from benchmarks import finetune

    def run(corpus, recipe, seed, test, validation):
        return {"corpus": corpus, "recipe": recipe, "seed": seed, "weighted_f1": test, "macro_f1": test,
                "validation_weighted_f1": validation, "global_step": 100, "training_seconds_cpu": 60.0,
                "stopped_by_budget": False}

    runs = [
        run("episodes", "frozen", 0, 0.60, 0.50), run("episodes", "frozen", 1, 0.58, 0.52),  # better on test only
        run("episodes", "frozen_windows", 0, 0.55, 0.56),
        run("episodes", "finetune", 0, 0.59, 0.57),
        run("meld", "frozen", 0, 0.57, 0.54), run("meld", "finetune", 0, 0.61, 0.58),
    ]
    summary = finetune.summarize(runs)
    episodes = summary["episodes"]
    assert episodes["recipes"]["frozen"]["num_seeds"] == 2 and episodes["recipes"]["frozen"]["weighted_f1"]["mean"] == 0.59
    assert episodes["comparison"]["frozen_reference"] == "frozen_windows"
    assert episodes["comparison"]["finetune_minus_frozen_points"] == 4.0 and episodes["comparison"]["target_met"]
    assert not summary["meld"]["comparison"]["target_met"]  # +4 points but below 0.618
    table = finetune.format_table({"summary": summary})
    assert "| episodes | finetune | 1 | 0.590 ± 0.000 |" in table and "+4.0 points (vs frozen_windows)" in table
    with pytest.raises(SystemExit) as exit_info:
        finetune.parse_args(["--help"])
    assert exit_info.value.code == 0 and "--finetune-steps" in capsys.readouterr().out
    plan = finetune.planned_runs(finetune.parse_args(["--meld-dir", "m", "--frozen-seeds", "0", "1"]))
    assert ("meld", "frozen_windows", 0) not in plan and ("episodes", "frozen_windows", 1) in plan
    assert plan[-1] == ("episodes", "finetune", 0)


def test_finetune_benchmark_skips_only_runs_recorded_with_the_same_schedule_rule():
    from benchmarks import finetune

    args = finetune.parse_args(["--meld-dir", "m", "--finetune-seeds", "0", "1", "--skip-recorded", "--jobs", "2"])
    rule = finetune.schedule_rule(args)
    assert rule["steps"] == 520 and args.jobs == 2
    recorded = {"corpus": "meld", "recipe": "finetune", "seed": 0, "max_steps": 520, "schedule": {"rule": rule}}
    assert finetune.is_recorded(recorded, "meld", "finetune", 0, rule)
    assert not finetune.is_recorded(recorded, "meld", "finetune", 1, rule)  # another seed
    assert not finetune.is_recorded(recorded, "episodes", "finetune", 0, rule)  # another corpus
    shorter = finetune.schedule_rule(finetune.parse_args(["--meld-dir", "m", "--finetune-steps", "260"]))
    assert not finetune.is_recorded(recorded, "meld", "finetune", 0, shorter)  # same seed, other schedule
    frozen = {"corpus": "meld", "recipe": "frozen", "seed": 2, "max_steps": 3000}
    assert finetune.is_recorded(frozen, "meld", "frozen", 2, shorter)  # the frozen recipe has no schedule rule
    with pytest.raises(SystemExit):
        finetune.parse_args(["--meld-dir", "m", "--jobs", "0"])
