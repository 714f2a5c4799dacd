"""Benchmarks of the emoje package: MELD quality, missing-modality robustness, speed (see benchmarks/README.md).

Run them from the repository root, e.g. ``python -m benchmarks.robustness``; results go to ``benchmarks/results``.
"""
