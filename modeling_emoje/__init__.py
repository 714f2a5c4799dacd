"""emoje: multimodal emotion recognition in conversation that keeps working when modalities are missing.

Importing the package registers its configs, models and processor with transformers' Auto classes and the
``emotion-recognition-in-conversation`` pipeline task.

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

from .configuration_cmarr import CMARRConfig
from .configuration_emoje import EmoJEConfig
from .feature_extraction_emoje import EmoJEFeatureExtractor
from .modeling_cmarr import CMARRForEmotionRecognition, CMARRModel, CMARRPreTrainedModel
from .modeling_emoje import EmoJEForEmotionRecognition, EmoJEModel, EmoJEPreTrainedModel
from .modalities import MODALITIES, Scenario
from .pipeline_emoje import EmotionRecognitionInConversationPipeline, register_pipeline
from .processing_emoje import EmoJEProcessor
from .text_feature_extraction_emoje import EmoJETextFeatureExtractor
from .video_processing_emoje import EmoJEVideoProcessor

AutoConfig.register("emoje", EmoJEConfig, exist_ok=True)
AutoConfig.register("cmarr", CMARRConfig, exist_ok=True)
AutoModel.register(EmoJEConfig, EmoJEModel, exist_ok=True)
AutoModelForSequenceClassification.register(EmoJEConfig, EmoJEForEmotionRecognition, exist_ok=True)
AutoModel.register(CMARRConfig, CMARRModel, exist_ok=True)
AutoModelForSequenceClassification.register(CMARRConfig, CMARRForEmotionRecognition, exist_ok=True)
# save_pretrained copies the (flat) modeling files and writes `auto_map`, so a saved directory loads with
# trust_remote_code=True where this package is not installed.
EmoJEConfig.register_for_auto_class()
EmoJEModel.register_for_auto_class("AutoModel")
EmoJEForEmotionRecognition.register_for_auto_class("AutoModelForSequenceClassification")
CMARRConfig.register_for_auto_class()
CMARRModel.register_for_auto_class("AutoModel")
CMARRForEmotionRecognition.register_for_auto_class("AutoModelForSequenceClassification")
for config_class in (EmoJEConfig, CMARRConfig):
    AutoProcessor.register(config_class, EmoJEProcessor, exist_ok=True)
    AutoFeatureExtractor.register(config_class, EmoJEFeatureExtractor, exist_ok=True)
    try:  # transformers' AutoVideoProcessor exists only with torchvision (not a dependency here)
        AutoVideoProcessor.register(config_class, EmoJEVideoProcessor, exist_ok=True)
    except ImportError:
        pass  # EmoJEProcessor.from_pretrained rebuilds its video processor itself, so nothing needs this entry
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
]
