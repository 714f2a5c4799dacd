"""Media extraction on every core and across machines: a worker pool per process, shares per `accelerate` process.

- [`run_media_tasks`] runs a list of media tasks with a [`MediaExtraction`](media_extraction.py) in this process
  (`num_workers=1`) or in `num_workers` spawned worker processes. Each worker builds its own extractors (its own
  mediapipe graphs) once, takes tasks from a shared queue and writes its results to the content-keyed feature cache
  in shards of its own (unique names, atomic renames); the calling process only counts finished tasks. When a worker
  dies, the others take the remaining tasks and the run then ends with an error naming it: only the dead worker's
  unwritten rows are missing, and re-running the command extracts just those.
- [`ProcessShare`] is this process' part of a job run under `accelerate launch` (several processes, on one machine or
  several sharing the cache folder): `take` = `PartialState().split_between_processes`; one process alone otherwise.
- [`JobProgress`] is one progress bar over the whole job: with several processes each one writes its count to a
  small file beside the cache and the main process shows the sum (and waits on it for the others to finish).

Test hook: with `EMOJE_EXTRACTION_EXIT_AFTER=k` in the environment, every extracting process (a worker, or the
calling process with one worker) exits at once after k tasks without writing what is pending, as if killed.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .files import write_text_atomic

EXIT_AFTER_ENV = "EMOJE_EXTRACTION_EXIT_AFTER"
KILLED_EXIT_CODE = 137  # what the test hook exits with (the code of a SIGKILLed process under a shell)
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class WorkerFailed(RuntimeError):
    """A worker process died or raised; what it had written to the cache stays there (re-run to finish)."""


def _exit_after() -> int | None:
    value = os.environ.get(EXIT_AFTER_ENV, "").strip()
    return int(value) if value else None


# ------------------------------------------------------------------------------------------ process share


class ProcessShare:
    """This process' part of a job run by `accelerate launch` (detected from `WORLD_SIZE` > 1), else the whole job."""

    def __init__(self, state: Any = None):
        self.state = state

    @classmethod
    def current(cls) -> ProcessShare:
        """The share of this process: an accelerate `PartialState` when launched with several processes."""
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return cls()
        from accelerate import PartialState

        return cls(PartialState(cpu=True))

    @property
    def num_processes(self) -> int:
        return 1 if self.state is None else self.state.num_processes

    @property
    def index(self) -> int:
        return 0 if self.state is None else self.state.process_index

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def take(self, items: Sequence[Any]) -> list[Any]:
        """This process' contiguous part of `items` (all of them when alone)."""
        if self.state is None:
            return list(items)
        with self.state.split_between_processes(list(items)) as part:
            return list(part)

    def wait_for_everyone(self) -> None:
        if self.state is not None:
            self.state.wait_for_everyone()


# ----------------------------------------------------------------------------------------------- progress


class JobProgress:
    """One progress bar over a job shared by [`ProcessShare`] processes (only the main process draws it).

    With several processes each one writes its finished count to `folder/<job>.<index>` (at most once a second, and
    when it finishes); the main process shows the sum, so the bar is the whole job, not its own part.
    """

    def __init__(self, total: int, desc: str, enabled: bool, share: ProcessShare, folder: Path, job: str):
        from tqdm.auto import tqdm

        self.total, self.share, self.folder, self.job = total, share, folder, job
        self.mine = 0
        self.last_report = 0.0
        self.bar = tqdm(total=total, desc=desc, unit="utt", disable=not enabled or total == 0 or not share.is_main)

    def _path(self, index: int, finished: bool = False) -> Path:
        return self.folder / f"{self.job}.{index}{'.finished' if finished else ''}"

    def clear(self) -> None:
        """Remove the counts of an earlier run of the same job (main process, before the others start)."""
        for index in range(self.share.num_processes):
            for finished in (False, True):
                self._path(index, finished).unlink(missing_ok=True)

    def _write(self, finished: bool = False) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self._path(self.share.index, finished), str(self.mine))

    def _others(self) -> int:
        count = 0
        for index in range(1, self.share.num_processes):
            try:
                count += int(self._path(index).read_text() or 0)
            except (OSError, ValueError):
                pass
        return count

    def refresh(self) -> None:
        if self.share.num_processes > 1 and self.share.is_main:
            self.bar.n = self.mine + self._others()
            self.bar.refresh()

    def add(self, count: int = 1) -> None:
        self.mine += count
        if self.share.num_processes == 1:
            self.bar.update(count)
            return
        if not self.share.is_main and time.monotonic() - self.last_report >= 1.0:
            self._write()
            self.last_report = time.monotonic()
        self.refresh()

    def finish(self) -> None:
        """Say this process is done; the main process waits (showing the whole job) until every other one is.

        Files rather than a collective barrier: a share can take hours, longer than a process group's timeout.
        """
        if self.share.num_processes == 1:
            return
        if not self.share.is_main:
            self._write()
            self._write(finished=True)
            return
        others = range(1, self.share.num_processes)
        while not all(self._path(index, finished=True).exists() for index in others):
            self.refresh()
            time.sleep(0.5)
        self.refresh()

    def close(self) -> None:
        self.bar.close()


# ------------------------------------------------------------------------------------------------ workers


def _parent_is_gone() -> bool:
    parent = multiprocessing.parent_process()
    return parent is not None and not parent.is_alive()


def _worker_main(extraction: Any, tasks: Any, done: Any) -> None:
    """A worker process: run tasks from the queue until the `None` sentinel, reporting each finished one."""
    exit_after, finished = _exit_after(), 0
    runner = extraction.runner()
    try:
        while True:
            task = tasks.get()
            if task is None or _parent_is_gone():
                break
            runner.run(task)
            finished += 1
            if exit_after is not None and finished >= exit_after:
                os._exit(KILLED_EXIT_CODE)  # the test hook: as if killed, pending rows are lost
            done.put(("done", 1))
    except KeyboardInterrupt:
        pass
    except BaseException:
        done.put(("error", traceback.format_exc()))
        raise
    finally:
        runner.close()


def _run_here(tasks: Sequence[Any], extraction: Any, entries: dict | None, progress: JobProgress) -> None:
    exit_after = _exit_after()
    runner = extraction.runner(entries)
    try:
        for finished, task in enumerate(tasks, start=1):
            runner.run(task)
            if exit_after is not None and finished >= exit_after:
                os._exit(KILLED_EXIT_CODE)  # the test hook: as if killed, pending rows are lost
            progress.add(1)
    finally:
        runner.close()


def _stop(workers: list[Any]) -> None:
    """Ask live workers to stop (SIGINT: they write what is pending), then end those that do not."""
    for worker in workers:
        if worker.is_alive():
            os.kill(worker.pid, signal.SIGINT)
    for worker in workers:
        worker.join(timeout=30)
        if worker.is_alive():
            worker.terminate()
            worker.join()


def _thread_limit(num_workers: int) -> str:
    return str(max(1, (os.cpu_count() or 1) // num_workers))


def _run_in_workers(tasks: Sequence[Any], extraction: Any, num_workers: int, progress: JobProgress) -> None:
    context = multiprocessing.get_context("spawn")
    task_queue, done_queue = context.Queue(), context.Queue()
    for task in tasks:
        task_queue.put(task)
    for _ in range(num_workers):
        task_queue.put(None)
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    workers = []
    try:
        for name in _THREAD_VARIABLES:  # a spawned child copies the environment: no oversubscribed cores
            os.environ.setdefault(name, _thread_limit(num_workers))
        for index in range(num_workers):
            worker = context.Process(
                target=_worker_main, args=(extraction, task_queue, done_queue), name=f"emoje-extract-{index}"
            )
            worker.start()
            workers.append(worker)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    finished = 0
    try:
        while finished < len(tasks):
            try:
                kind, value = done_queue.get(timeout=0.5)
            except queue.Empty:
                progress.refresh()
                if all(worker.exitcode is not None for worker in workers):  # the live ones took the dead one's tasks
                    dead = [w for w in workers if w.exitcode != 0]
                    names = ", ".join(f"{w.name} (exit code {w.exitcode})" for w in dead) or "the workers"
                    raise WorkerFailed(
                        f"media extraction stopped after {finished} of {len(tasks)} utterances: {names} ended early; "
                        "the finished shards are in the feature cache, run the same command again to finish"
                    ) from None
                continue
            if kind == "error":
                raise WorkerFailed(f"a media extraction worker failed:\n{value}")
            finished += value
            progress.add(value)
        for worker in workers:
            worker.join()
    finally:
        _stop(workers)
        task_queue.cancel_join_thread()


def run_media_tasks(
    tasks: Sequence[Any],
    extraction: Any,
    num_workers: int = 1,
    entries: dict | None = None,
    progress: JobProgress | None = None,
) -> None:
    """Run `tasks` with `extraction.runner()`: here (`num_workers` 1, results also go into `entries`) or in workers.

    Every result is written to the feature cache; with workers, read it back from there.
    """
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    if progress is None:
        progress = JobProgress(len(tasks), "media features", False, ProcessShare(), Path("."), "job")
    if not tasks:
        return
    if num_workers == 1:
        _run_here(tasks, extraction, entries, progress)
    else:
        _run_in_workers(tasks, extraction, min(num_workers, len(tasks)), progress)


__all__ = [
    "EXIT_AFTER_ENV",
    "KILLED_EXIT_CODE",
    "JobProgress",
    "ProcessShare",
    "WorkerFailed",
    "run_media_tasks",
]
