"""Every CLI logs at INFO by default and at WARNING with --quiet."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def restore_root_level():
    level = logging.getLogger().level
    yield
    logging.getLogger().setLevel(level)


@pytest.mark.parametrize("cli", ["dataset_scripts.cli", "training.cli.evaluate", "training.cli.train"])
@pytest.mark.parametrize("quiet", [False, True])
def test_cli_log_level(cli, quiet, tmp_path):
    import importlib

    main = importlib.import_module(cli).main
    argv = {
        "dataset_scripts.cli": ["meld", "--data-dir", str(tmp_path / "none"), "--output", str(tmp_path / "out")],
        "training.cli.evaluate": ["--model", str(tmp_path / "none"), "--data", str(tmp_path / "none")],
        "training.cli.train": ["--data", str(tmp_path / "none"), "--output-dir", str(tmp_path / "run")],
    }[cli]
    try:
        main(argv + (["--quiet"] if quiet else []))  # fails on the missing folders, after logging is set up
    except (SystemExit, Exception):  # noqa: BLE001 - only the log level matters here
        pass
    assert logging.getLogger().level == (logging.WARNING if quiet else logging.INFO)
