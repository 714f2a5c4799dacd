"""The robustness benchmark's controlled corpus: re-exports the ``"controlled"`` preset of `dataset_scripts.synthetic`.

The implementation (one generator, two signal designs; the controlled design's partial / partly shared evidence and
the body's facial cues are described there) lives in ``dataset_scripts/synthetic.py``; this module keeps the old
import path and names. ``make_synthetic_corpus`` is `dataset_scripts.synthetic.make_controlled_corpus`,
``CorpusSettings`` is `dataset_scripts.synthetic.ControlledSettings` and ``LABELS`` its label set.

Example:
    >>> from benchmarks.synthetic_corpus import make_synthetic_corpus
    >>> dims = {"text": 8, "audio": 4, "face": 6, "body": 5}
    >>> corpus = make_synthetic_corpus(num_dialogues=(4, 2, 2), seed=0, dims=dims)
    >>> corpus["train"].features["label"].names[:3], len(corpus["test"][0]["face_features"][0])
    (['neutral', 'joy', 'sadness'], 6)
"""

from dataset_scripts.synthetic import BODY_FROM_FACE, CLASS_PRIOR, INFORMATIVENESS, REAL_DIMS, SPEAKERS, frames_to_arrow
from dataset_scripts.synthetic import CONTROLLED_FRAME_RANGE as FRAME_RANGE
from dataset_scripts.synthetic import CONTROLLED_LABELS as LABELS
from dataset_scripts.synthetic import CONTROLLED_PROTOCOL as PROTOCOL
from dataset_scripts.synthetic import ControlledSettings as CorpusSettings
from dataset_scripts.synthetic import make_controlled_corpus as make_synthetic_corpus

__all__ = [
    "BODY_FROM_FACE",
    "CLASS_PRIOR",
    "FRAME_RANGE",
    "INFORMATIVENESS",
    "LABELS",
    "PROTOCOL",
    "REAL_DIMS",
    "SPEAKERS",
    "CorpusSettings",
    "frames_to_arrow",
    "make_synthetic_corpus",
]
