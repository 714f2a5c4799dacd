"""emoje: multimodal emotion recognition in conversation that keeps working when modalities are missing.

Importing the package registers every model's `ModelSpec` (`modeling_emoje.model_specs`) and, derived from it, its
config, models and processor with transformers' Auto classes, and the ``emotion-recognition-in-conversation``
pipeline task.

Example:
    >>> import modeling_emoje
    >>> from transformers import AutoConfig
    >>> type(AutoConfig.for_model("emoje")).__name__
    'EmoJEConfig'
"""

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForSequenceClassification,
    AutoProcessor,
    AutoVideoProcessor,
)

from . import modeling_cmarr, modeling_emoje
from .configuration_cmarr import CMARRConfig
from .configuration_emoje import EmoJEConfig
from .feature_extraction_emoje import EmoJEFeatureExtractor
from .modalities import MODALITIES, Scenario
from .model_specs import ModelSpec, register_model_spec
from .modeling_cmarr import CMARRForEmotionRecognition, CMARRModel, CMARRPreTrainedModel
from .modeling_emoje import EmoJEForEmotionRecognition, EmoJEModel, EmoJEPreTrainedModel
from .pipeline_emoje import EmotionRecognitionInConversationPipeline, register_pipeline
from .processing_emoje import EmoJEProcessor
from .text_feature_extraction_emoje import EmoJETextFeatureExtractor
from .video_processing_emoje import EmoJEVideoProcessor

HEAD_AUTO_CLASS = "AutoModelForSequenceClassification"


def register(spec: ModelSpec) -> None:
    """Register ``spec`` in the model registry and its classes with transformers' Auto classes; ``save_pretrained``
    then copies the (flat) modeling files and writes ``auto_map``, so a saved folder loads with
    ``trust_remote_code=True`` where this package is not installed."""
    register_model_spec(spec)
    AutoConfig.register(spec.model_type, spec.config_class, exist_ok=True)
    AutoModel.register(spec.config_class, spec.base_model_class, exist_ok=True)
    AutoModelForSequenceClassification.register(spec.config_class, spec.model_class, exist_ok=True)
    spec.config_class.register_for_auto_class()
    spec.base_model_class.register_for_auto_class("AutoModel")
    spec.model_class.register_for_auto_class(HEAD_AUTO_CLASS)
    AutoProcessor.register(spec.config_class, EmoJEProcessor, exist_ok=True)
    AutoFeatureExtractor.register(spec.config_class, EmoJEFeatureExtractor, exist_ok=True)
    try:  # transformers' AutoVideoProcessor exists only with torchvision (not a dependency here)
        AutoVideoProcessor.register(spec.config_class, EmoJEVideoProcessor, exist_ok=True)
    except ImportError:
        pass  # EmoJEProcessor.from_pretrained rebuilds its video processor itself, so nothing needs this entry


for spec in (modeling_emoje.MODEL_SPEC, modeling_cmarr.MODEL_SPEC):
    register(spec)
# The processor's parts carry `auto_map` entries too, so transformers' generic sub-processor loading finds them.
EmoJEProcessor.register_for_auto_class()
EmoJEFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")
EmoJEVideoProcessor.register_for_auto_class("AutoVideoProcessor")
register_pipeline()  # the "emotion-recognition-in-conversation" task (idempotent)

__all__ = [
    "MODALITIES",
    "CMARRConfig",
    "CMARRForEmotionRecognition",
    "CMARRModel",
    "CMARRPreTrainedModel",
    "EmoJEConfig",
    "EmoJEFeatureExtractor",
    "EmoJEForEmotionRecognition",
    "EmoJEModel",
    "EmoJEPreTrainedModel",
    "EmoJEProcessor",
    "EmoJETextFeatureExtractor",
    "EmoJEVideoProcessor",
    "EmotionRecognitionInConversationPipeline",
    "Scenario",
    "register",
]
