"""Media extraction in worker processes and under `accelerate launch` gives the one-process dataset, and resumes.

Real clips: a MELD.Raw-style tree of symlinks to `../shared/media/video` (benchmarks.scale.make_meld_media_tree),
a few clips at the video processor's default 5 fps; audio, face and body features.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.scale import DEFAULT_MEDIA_DIR, make_meld_media_tree
from dataset_scripts.parallel import EXIT_AFTER_ENV, KILLED_EXIT_CODE
from tests.synthetic_data import REPO_ROOT

pytestmark = pytest.mark.skipif(not DEFAULT_MEDIA_DIR.is_dir(), reason="needs the real clips of ../shared/media")

CLIPS = 4
FEATURES = "audio,face,body"


def environment(**extra: str) -> dict[str, str]:
    """The test environment for a subprocess: without the kill hook unless `extra` sets it."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop(EXIT_AFTER_ENV, None)
    return {**env, **extra}


def prepare_command(tree: Path, output: Path, cache: Path, workers: int = 1) -> list[str]:
    return ["-m", "dataset_scripts.cli", "meld", "--data-dir", str(tree), "--output", str(output), "--features",
            FEATURES, "--cache-dir", str(cache), "--num-workers", str(workers), "--no-progress"]  # fmt: skip


def run_prepare(args: list[str], env: dict[str, str] | None = None, timeout: int = 400) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], check=False, cwd=REPO_ROOT, env=env or environment(), capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def to_extract(stderr: str, modality: str = "face") -> tuple[int, int]:
    """(cached, to extract) from the log line `face: N inputs, C cached, T to extract`."""
    match = re.search(rf"{modality}: (\d+) inputs, (\d+) cached, (\d+) to extract", stderr)
    assert match, stderr[-2000:]
    return int(match.group(2)), int(match.group(3))


def assert_same_dataset(path: Path, reference_path: Path) -> None:
    from dataset_scripts import load_prepared, read_prepared_metadata

    dataset, reference = load_prepared(str(path)), load_prepared(str(reference_path))
    assert list(dataset) == list(reference)
    for split in reference:
        assert dataset[split].column_names == reference[split].column_names, split
        assert dataset[split].num_rows == reference[split].num_rows, split
        for column in reference[split].column_names:
            ours, theirs = dataset[split][column], reference[split][column]
            if not column.endswith("_features"):
                assert ours == theirs, (split, column)
                continue
            for row, (a, b) in enumerate(zip(ours, theirs, strict=True)):
                assert np.array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32)), (split, column, row)
    summary, reference_summary = (read_prepared_metadata(str(p))["summary"] for p in (path, reference_path))
    assert summary["undecodable"] == reference_summary["undecodable"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return make_meld_media_tree(tmp_path_factory.mktemp("meld") / "MELD.Raw", CLIPS)


@pytest.fixture(scope="module")
def one_process(tree, tmp_path_factory) -> Path:
    """The reference: `--num-workers 1`, extracted in the command's own process."""
    root = tmp_path_factory.mktemp("one")
    completed = run_prepare(prepare_command(tree, root / "out", root / "cache"))
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert to_extract(completed.stderr) == (0, CLIPS)
    return root / "out"


def test_two_workers_give_the_one_process_dataset(tree, one_process, tmp_path):
    completed = run_prepare(prepare_command(tree, tmp_path / "out", tmp_path / "cache", workers=2))
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert_same_dataset(tmp_path / "out", one_process)
    shards = list((tmp_path / "cache").rglob("face-*/shard-*.npz"))
    assert len(shards) >= 2, "each worker writes shards of its own"


def test_a_killed_run_resumes_with_only_the_missing_clips(tree, one_process, tmp_path):
    # two workers, each killed (the test hook: a hard exit, pending rows lost) after its first clip; shards of one row;
    # the other clips stay undone (both workers are gone)
    script = (
        "import sys\n"
        "from dataset_scripts import build_meld, extract_features\n"
        f"extract_features(build_meld({str(tree)!r}), {FEATURES.split(',')!r}, cache_dir={str(tmp_path / 'cache')!r},"
        " num_workers=2, shard_rows=1, progress=False)\n"
    )
    killed = run_prepare(["-c", script], env=environment(**{EXIT_AFTER_ENV: "1"}))
    assert killed.returncode != 0
    assert f"exit code {KILLED_EXIT_CODE}" in killed.stderr and "run the same command again" in killed.stderr

    rerun = run_prepare(prepare_command(tree, tmp_path / "out", tmp_path / "cache", workers=2))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert to_extract(rerun.stderr) == (2, CLIPS - 2)  # one finished clip per killed worker was kept
    assert_same_dataset(tmp_path / "out", one_process)

    again = run_prepare(prepare_command(tree, tmp_path / "out", tmp_path / "cache", workers=2))
    assert again.returncode == 0 and to_extract(again.stderr) == (CLIPS, 0)


def test_one_worker_killed_midway_resumes(tree, one_process, tmp_path):
    # the command's own process extracts (--num-workers 1) and dies after 3 clips; 2 were written (shard_rows=2)
    script = (
        "from dataset_scripts import build_meld, extract_features\n"
        f"extract_features(build_meld({str(tree)!r}), {FEATURES.split(',')!r}, cache_dir={str(tmp_path / 'cache')!r},"
        " shard_rows=2, progress=False)\n"
    )
    killed = run_prepare(["-c", script], env=environment(**{EXIT_AFTER_ENV: "3"}))
    assert killed.returncode == KILLED_EXIT_CODE
    rerun = run_prepare(prepare_command(tree, tmp_path / "out", tmp_path / "cache"))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert to_extract(rerun.stderr) == (2, CLIPS - 2)
    assert_same_dataset(tmp_path / "out", one_process)


def test_accelerate_launch_with_two_processes_gives_the_one_process_dataset(tree, one_process, tmp_path):
    from tests.synthetic_data import free_port

    command = ["-m", "accelerate.commands.launch", "--config_file",
               str(REPO_ROOT / "training" / "configs" / "accelerate" / "cpu_2proc.yaml"),
               "--main_process_port", str(free_port()),
               *prepare_command(tree, tmp_path / "out", tmp_path / "cache")]  # fmt: skip
    completed = run_prepare(command)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.count("saved to") == 1, "only the main process saves"
    assert_same_dataset(tmp_path / "out", one_process)
    shard_pids = {shard.name.split("-")[-2] for shard in (tmp_path / "cache").rglob("face-*/shard-*.npz")}
    assert len(shard_pids) == 2, "each process wrote its share"


def test_num_workers_is_checked():
    from dataset_scripts.cli import main

    with pytest.raises(SystemExit) as raised:
        main(["meld", "--data-dir", ".", "--output", "out", "--num-workers", "0"])
    assert raised.value.code == 2
