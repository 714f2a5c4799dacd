"""The demo/test synthetic corpus: a re-export of the ``"prototype"`` preset of `dataset_scripts.synthetic`.

The implementation (one generator, two signal designs) lives in ``dataset_scripts/synthetic.py``; this module keeps
the old import path and names. ``make_synthetic_corpus`` is `dataset_scripts.synthetic.make_prototype_corpus`.

Example:
    >>> from training.synthetic import make_synthetic_corpus
    >>> corpus = make_synthetic_corpus(num_dialogues=(3, 1, 1), modality_dims={"text": 8, "audio": 4}, seed=0)
    >>> sorted(corpus), corpus["train"].features["label"].names
    (['test', 'train', 'validation'], ['neutral', 'joy', 'sadness', 'anger'])
"""

from dataset_scripts.synthetic import PROTOTYPE_FRAME_RANGE as FRAME_RANGE
from dataset_scripts.synthetic import PROTOTYPE_LABELS as DEFAULT_LABELS
from dataset_scripts.synthetic import REAL_DIMS as REAL_MODALITY_DIMS
from dataset_scripts.synthetic import PROTOTYPE_PROTOCOL as SYNTHETIC_PROTOCOL
from dataset_scripts.synthetic import SIGNAL_STRENGTH, PrototypeSettings
from dataset_scripts.synthetic import make_prototype_corpus as make_synthetic_corpus

__all__ = [
    "DEFAULT_LABELS",
    "FRAME_RANGE",
    "REAL_MODALITY_DIMS",
    "SIGNAL_STRENGTH",
    "SYNTHETIC_PROTOCOL",
    "PrototypeSettings",
    "make_synthetic_corpus",
]
