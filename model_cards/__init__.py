"""Model cards for exported emoje checkpoints.

Example:
    >>> from model_cards import build_model_card
    >>> callable(build_model_card)
    True
"""

from .card import CARD_METRICS, NO_PIPELINE_TAG_REASON, build_model_card, eval_results_from_evaluation

__all__ = ["CARD_METRICS", "NO_PIPELINE_TAG_REASON", "build_model_card", "eval_results_from_evaluation"]
