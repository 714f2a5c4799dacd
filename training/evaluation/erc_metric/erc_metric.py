"""`evaluate` metric module for emotion recognition in conversation (loadable by path, offline).

Example:
    >>> import evaluate, training
    >>> metric = evaluate.load(training.ERC_METRIC_PATH)
    >>> metric.compute(references=[0, 0, 0, 0, 1, 1], predictions=[0, 0, 0, 0, 0, 1])["n"]
    6
"""

import datasets
import evaluate

from training.evaluation.metrics import compute_erc_metrics

_DESCRIPTION = """Weighted-F1, macro-F1, accuracy (WAR) and UAR (macro recall) of utterance emotion predictions.
Weighted-F1 weights each class by its support in the references (y_true first, as scikit-learn expects);
references equal to -100 (padding) are ignored."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted class ids.
    references (list of int): reference class ids, -100 for padding.
    num_labels (int, optional): if given, every id must lie in [0, num_labels).
Returns:
    weighted_f1, macro_f1, accuracy, uar (floats in [0, 1]) and n (number of scored utterances).
"""

_CITATION = """@inproceedings{poria2019meld,
  title={{MELD}: A Multimodal Multi-Party Dataset for Emotion Recognition in Conversations},
  author={Poria, Soujanya and Hazarika, Devamanyu and Majumder, Navonil and Naik, Gautam and Cambria, Erik and Mihalcea, Rada},
  booktitle={ACL},
  year={2019}
}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ErcMetric(evaluate.Metric):
    """Scores of emotion recognition in conversation, see `training.evaluation.metrics.compute_erc_metrics`."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.f1_score.html"],
        )

    def _compute(self, predictions, references, num_labels=None):
        return compute_erc_metrics(references, predictions, num_labels=num_labels)
