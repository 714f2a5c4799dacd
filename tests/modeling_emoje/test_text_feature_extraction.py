"""EmoJETextFeatureExtractor: the processor's text encoder part (reference, lazy load, size check, save)."""

from __future__ import annotations

import numpy as np
import pytest

from modeling_emoje.processing_emoje import EmoJEProcessor
from modeling_emoje.text_feature_extraction_emoje import EmoJETextFeatureExtractor


def test_relative_reference_resolves_only_once_bound(tmp_path):
    texts = EmoJETextFeatureExtractor("./text_encoder")
    with pytest.raises(ValueError, match="not loaded with from_pretrained"):
        texts.resolve_path()
    texts.bind(tmp_path)
    with pytest.raises(ValueError, match="is missing"):
        texts.resolve_path()
    (tmp_path / "text_encoder").mkdir()
    assert texts.resolve_path() == str(tmp_path / "text_encoder")
    with pytest.raises(ValueError, match="no text encoder"):
        _ = EmoJETextFeatureExtractor().encoder


def test_encodes_checks_the_size_and_saves(local_text_encoder, tmp_path):
    texts = EmoJETextFeatureExtractor(local_text_encoder)
    encoded = texts(["Hello?", "Fine, thanks."], batch_size=1, expected_dim=384)
    assert encoded.shape == (2, 384) and encoded.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(encoded, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="gives 384-d features but the model expects text features of size 16"):
        texts(["Hello?"], expected_dim=16)
    assert texts.save(tmp_path) == "./text_encoder" and (tmp_path / "text_encoder" / "config.json").is_file()
    reloaded = EmoJETextFeatureExtractor("./text_encoder")
    reloaded.bind(tmp_path)
    np.testing.assert_allclose(reloaded(["Hello?", "Fine, thanks."]), encoded, atol=1e-6)


def test_a_public_encoder_is_saved_as_its_hub_id_and_read_from_the_packaged_copy(minilm_path, tmp_path):
    from modeling_emoje.text_encoding_emoje import DEFAULT_HUB_TEXT_ENCODER

    assert EmoJETextFeatureExtractor(minilm_path).save(tmp_path) == DEFAULT_HUB_TEXT_ENCODER
    assert not (tmp_path / "text_encoder").exists()
    by_id = EmoJETextFeatureExtractor(DEFAULT_HUB_TEXT_ENCODER)
    assert by_id.resolve_path() == minilm_path  # offline: no download
    assert by_id(["Hello?"]).shape == (1, 384)


def test_processor_delegates_its_text_to_the_extractor(minilm_path):
    processor = EmoJEProcessor.from_text_encoder(minilm_path)
    assert isinstance(processor.text_features, EmoJETextFeatureExtractor)
    assert processor.text_encoder_name_or_path == minilm_path == processor.text_features.name_or_path
    batch = processor([{"speaker": "A", "text": "Hello?"}], return_tensors="np")
    np.testing.assert_allclose(batch["text_features"][0, 0], processor.text_features(["Hello?"]), atol=1e-6)
    assert processor.text_encoder is processor.text_features.encoder  # loaded once, by the extractor
