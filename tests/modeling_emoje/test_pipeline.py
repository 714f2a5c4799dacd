"""pipeline("emotion-recognition-in-conversation") end to end on real media, from one exported directory."""

from __future__ import annotations

import json
import math
from unittest import mock

import numpy as np
import pytest
import torch
from transformers import AutoProcessor, pipeline

from modeling_emoje.text_encoding_emoje import default_text_encoder
from modeling_emoje import MODALITIES, EmoJEConfig, EmoJEForEmotionRecognition
from modeling_emoje.configuration_cmarr import CMARRConfig
from modeling_emoje.modeling_cmarr import CMARRForEmotionRecognition
from modeling_emoje.modeling_layers import DialogueContext
from modeling_emoje.pipeline_emoje import TASK, EmotionRecognitionInConversationPipeline, register_pipeline
from modeling_emoje.processing_emoje import EmoJEProcessor
from modeling_emoje.video_processing_emoje import EmoJEVideoProcessor
from tests.synthetic_data import one_thread  # noqa: F401 (autouse: one torch thread on the shared cores)

pytestmark = pytest.mark.compat  # `make test-newest` runs these at the newest allowed versions

LABELS = ["anger", "joy", "neutral", "sadness"]
DIMS = {"text": 384, "audio": 80, "face": 204, "body": 88}




def _tiny_emoje(**overrides) -> EmoJEForEmotionRecognition:
    config = EmoJEConfig(
        modality_dims=DIMS, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={label: index for index, label in enumerate(LABELS)}, hidden_size=16, encoder_heads=2, acn_heads=2,
        acn_layers=1, joint_embedding_size=8, context_hidden_size=8, context_layers=1, **overrides,
    )
    torch.manual_seed(0)
    model = EmoJEForEmotionRecognition(config).eval()
    with torch.no_grad():  # large random weights, so that predictions visibly depend on inputs and context
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.normal_(0.0, 0.3)
    return model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, minilm_path):
    # Temporary local registration (the package's __init__ registers both once the lead adds the lines).
    AutoProcessor.register(EmoJEConfig, EmoJEProcessor, exist_ok=True)
    register_pipeline()
    directory = tmp_path_factory.mktemp("erc-model")
    _tiny_emoje().save_pretrained(directory)
    processor = EmoJEProcessor.from_text_encoder(
        minilm_path, video_processor=EmoJEVideoProcessor(fps=1.0, max_frames=2, max_size=320)
    )
    processor.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def erc(model_dir) -> EmotionRecognitionInConversationPipeline:
    return pipeline(TASK, model=str(model_dir))


@pytest.fixture(scope="module")
def telephone(media_dir, telephone_turns) -> list[dict]:
    """sample.wav cut at the sample.stm times: 13 (speaker, transcript, audio slice) turns."""
    wav = str(media_dir / "conversation" / "sample.wav")
    return [
        {"speaker": turn.speaker, "text": turn.text, "audio": {"path": wav, "start": turn.start, "end": turn.end}}
        for turn in telephone_turns
    ]


def _keep(turns: list[dict], keys: tuple[str, ...]) -> list[dict]:
    return [{key: value for key, value in turn.items() if key == "speaker" or key in keys} for turn in turns]


def _check_turn(result: dict, used: list[str], imputed: list[str]) -> None:
    assert set(result) == {"label", "score", "scores", "modality_weights", "modalities", "imputed"}
    assert list(result["scores"]) == LABELS
    assert math.isclose(sum(result["scores"].values()), 1.0, abs_tol=1e-5)
    assert result["label"] == max(result["scores"], key=result["scores"].get)
    assert result["score"] == result["scores"][result["label"]]
    assert result["modalities"] == used and result["imputed"] == imputed
    assert list(result["modality_weights"]) == [name for name in MODALITIES if name in used + imputed]
    assert math.isclose(sum(result["modality_weights"].values()), 1.0, abs_tol=1e-5)


def test_pipeline_loads_everything_from_one_directory(erc, model_dir, telephone, tmp_path):
    assert isinstance(erc, EmotionRecognitionInConversationPipeline)
    assert isinstance(erc.processor, EmoJEProcessor)
    # The packaged MiniLM is saved as its Hub id and read back from the package's copy (no download, no 88 MB copy).
    assert erc.processor.resolve_text_encoder_path() == default_text_encoder()
    erc.save_pretrained(tmp_path)  # model + processor; no custom_pipelines (training.publishing.export.export_model writes those)
    assert not (tmp_path / "text_encoder").exists() and (tmp_path / "processor_config.json").is_file()
    assert "custom_pipelines" not in json.loads((tmp_path / "config.json").read_text())
    turns = _keep(telephone[:3], ("text", "audio"))
    assert pipeline(TASK, model=str(tmp_path))(turns) == erc(turns)


@pytest.mark.parametrize("keys", [("text", "audio"), ("audio",), ("text",)], ids="+".join)
def test_telephone_conversation(erc, telephone, keys):
    results = erc(_keep(telephone, keys))
    assert len(results) == len(telephone)
    used = [name for name in MODALITIES if name in keys]
    for result in results:
        _check_turn(result, used, [name for name in MODALITIES if name not in used])


def test_each_modality_changes_the_prediction(erc, telephone):
    both = erc(telephone)
    text_only = erc(_keep(telephone, ("text",)))
    gaps = [abs(a["scores"][label] - b["scores"][label]) for a, b in zip(both, text_only) for label in LABELS]
    assert max(gaps) > 1e-3


def test_list_of_conversations_and_top_k(erc, telephone):
    first, second = _keep(telephone[:4], ("text",)), _keep(telephone[4:], ("text", "audio"))
    together = erc([first, second], top_k=2)
    assert [len(results) for results in together] == [4, 9]
    assert all("text_features" not in turn for turn in first + second)  # the inputs are never modified
    streamed = erc(conversation for conversation in (first, second))  # a generator gives a generator
    assert not isinstance(streamed, list) and [len(results) for results in streamed] == [4, 9]
    alone = erc(second, top_k=2)
    for a, b in zip(together[1], alone):
        assert a["label"] == b["label"] and math.isclose(a["score"], b["score"], abs_tol=1e-6)
    for result in together[0] + together[1]:
        ranked = result["top_k"]
        assert len(ranked) == 2 and ranked[0]["label"] == result["label"] and ranked[0]["score"] >= ranked[1]["score"]
    assert len(erc(first, top_k=None)[0]["top_k"]) == len(LABELS)
    assert "top_k" not in erc(first)[0]


def test_texts_of_all_conversations_are_encoded_in_one_sorted_pass(erc, telephone):
    """A list of conversations: one text-encoder call over every text (sorted together, then cut into batch_size
    forward passes), with the same predictions as conversation-by-conversation calls."""
    conversations = [_keep(telephone[i : i + 3], ("text",)) for i in range(0, 12, 3)]
    encoder = erc.processor.text_encoder
    with mock.patch.object(type(encoder), "__call__", autospec=True, side_effect=type(encoder).__call__) as spy:
        together = erc(conversations, batch_size=5)
    assert spy.call_count == 1
    (_, texts), kwargs = spy.call_args
    assert len(texts) == 12 and kwargs == {"batch_size": 5}
    with mock.patch.object(encoder.model, "forward", autospec=True, side_effect=encoder.model.forward) as forward:
        erc(conversations, batch_size=5)
    assert forward.call_count == 3  # ceil(12 / 5) forward passes
    for conversation, results in zip(conversations, together):
        for a, b in zip(results, erc(conversation)):
            assert a["label"] == b["label"] and math.isclose(a["score"], b["score"], abs_tol=1e-5)


def test_causal_predicts_each_turn_from_its_past_only(erc, telephone):
    turns = _keep(telephone, ("text",))
    causal = erc(turns, causal=True)
    for index in (0, 6, len(turns) - 1):
        prefix = erc(turns[: index + 1])[-1]
        for label in LABELS:
            assert math.isclose(causal[index]["scores"][label], prefix["scores"][label], abs_tol=1e-5)
    full = erc(turns)[0]
    assert max(abs(full["scores"][label] - causal[0]["scores"][label]) for label in LABELS) > 1e-4  # context mattered


def test_causal_equals_the_pipeline_on_each_prefix(erc, telephone):
    """Every turn of a text+audio conversation, streamed in one call, as the pipeline sees the conversation cut after
    it: scores, modality weights, used and imputed modes (the model streams only its dialogue context)."""
    turns = telephone[:6]
    with mock.patch.object(DialogueContext, "prefix_states", autospec=True, side_effect=DialogueContext.prefix_states) as streamed:
        causal = erc(turns, causal=True)
    assert streamed.call_count == 1  # one forward pass, the context on all the prefixes
    for index, result in enumerate(causal):
        prefix = erc(turns[: index + 1])[-1]
        assert result["modalities"] == prefix["modalities"] and result["imputed"] == prefix["imputed"]
        for label in LABELS:
            assert math.isclose(result["scores"][label], prefix["scores"][label], abs_tol=1e-5)
        for name, weight in result["modality_weights"].items():
            assert math.isclose(weight, prefix["modality_weights"][name], abs_tol=1e-5)


def test_causal_model_runs_in_one_pass(erc, telephone):
    causal_model = pipeline(TASK, model=_tiny_emoje(causal=True), processor=erc.processor)
    turns = _keep(telephone[:5], ("text",))
    with mock.patch.object(DialogueContext, "prefix_states") as prefixes:
        one_pass = causal_model(turns, causal=True)
    prefixes.assert_not_called()
    assert one_pass == causal_model(turns)


def test_face_videos(erc, media_dir):
    video = media_dir / "video"
    results = erc(
        [
            {"speaker": "man", "video": str(video / "single_face.mp4")},
            {"speaker": "woman", "video": str(video / "WolfgangLanger_Pexels.mp4")},
            {"speaker": "man", "text": "Nobody is on screen now.", "video": str(video / "no_face.mp4")},
        ]
    )
    _check_turn(results[0], ["face", "body"], ["text", "audio"])
    _check_turn(results[1], ["face", "body"], ["text", "audio"])
    assert "face" not in results[2]["modalities"] and "text" in results[2]["modalities"]  # absent, not an error
    assert "face" in results[2]["imputed"]


def test_privacy_never_runs_the_face_extractor(erc, media_dir):
    clip = str(media_dir / "video" / "single_face.mp4")
    turns = [
        {"speaker": "man", "video": clip},
        {"speaker": "woman", "text": "Hi.", "face": np.ones((2, 204), dtype=np.float32)},  # given face: dropped too
    ]
    with (
        mock.patch.object(EmoJEVideoProcessor, "face_features", side_effect=AssertionError("face extracted")) as face,
        mock.patch.object(EmoJEVideoProcessor, "_get_face_mesh", side_effect=AssertionError("FaceMesh built")) as mesh,
    ):
        results = erc(turns, privacy=True)
    face.assert_not_called()
    mesh.assert_not_called()
    assert results[0]["modalities"] == ["body"] and results[1]["modalities"] == ["text"]
    assert all("face" not in result["modalities"] for result in results)
    assert erc.processor.video_processor.privacy is False  # the switch is restored


def test_errors_name_the_turn_and_file(erc, telephone, tmp_path):
    good = _keep(telephone[:2], ("text",))
    with pytest.raises(ValueError, match=r"turn 2 has nothing usable"):
        erc(good + [{"speaker": "Diane"}])
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wave file" * 10)
    with pytest.raises(ValueError, match=r"turn 1: audio file .*broken\.wav.* is unusable"):
        erc([good[0], {"speaker": "Sheila", "audio": str(broken)}])
    with pytest.raises(ValueError, match=r"turn 0: audio file .*missing\.wav.*file not found"):
        erc([{"speaker": "Diane", "text": "Hello?", "audio": str(tmp_path / "missing.wav")}])
    with pytest.raises(ValueError, match=r"turn 1: video file .*missing\.mp4.*file not found"):
        erc([good[0], {"speaker": "Sheila", "video": str(tmp_path / "missing.mp4")}])
    with pytest.raises(ValueError, match=r"conversation 1: turn 0 has nothing usable"):
        erc([good, [{"speaker": "Diane", "text": "  "}]])
    with pytest.raises(ValueError, match="expected a conversation"):
        erc([])


def test_cmarr_model_gives_no_modality_weights(erc, telephone):
    config = CMARRConfig(
        modality_dims={"text": 384, "audio": 80}, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={label: index for index, label in enumerate(LABELS)}, hidden_size=16, latent_size=8,
        flow_hidden_size=16, flow_blocks=1, fusion_heads=2,
    )
    cmarr = pipeline(TASK, model=CMARRForEmotionRecognition(config).eval(), processor=erc.processor)
    turns = telephone[:3] + [{"speaker": "Diane", "text": "Oh.", "video": "never/read.mp4"}]  # video: no such mode
    results = cmarr(turns, causal=True)
    assert len(results) == 4
    for result in results[:3]:
        assert result["modality_weights"] is None and result["modalities"] == ["text", "audio"]
        assert math.isclose(sum(result["scores"].values()), 1.0, abs_tol=1e-5)
    assert results[3]["modalities"] == ["text"] and results[3]["imputed"] == ["audio"]


@pytest.mark.parametrize("causal", [False, True], ids=["bidirectional", "causal"])
def test_conversations_are_padded_into_one_forward_pass(erc, telephone, causal):
    """Several conversations of different lengths and modalities: `conversation_batch_size` per model forward, with
    the scores of one-by-one calls (within 1e-5)."""
    conversations = [_keep(telephone[:2], ("text",)), telephone[2:7], _keep(telephone[7:], ("audio",))]
    with mock.patch.object(erc.model, "forward", autospec=True, side_effect=erc.model.forward) as forward:
        together = erc(conversations, causal=causal, conversation_batch_size=3)
    assert forward.call_count == 1  # causal too: the model streams its own context
    alone = erc(conversations, causal=causal, conversation_batch_size=1)
    assert [len(results) for results in together] == [2, 5, 6]
    for batched, single in zip(together, alone):
        for a, b in zip(batched, single):
            assert a["label"] == b["label"] and a["modalities"] == b["modalities"] and a["imputed"] == b["imputed"]
            for label in LABELS:
                assert math.isclose(a["scores"][label], b["scores"][label], abs_tol=1e-5)
            for name, weight in a["modality_weights"].items():
                assert math.isclose(weight, b["modality_weights"][name], abs_tol=1e-5)
    with pytest.raises(ValueError, match="conversation_batch_size must be a positive int"):
        erc(conversations, conversation_batch_size=0)
    with pytest.raises(ValueError, match=r"conversation 2: turn 0 has nothing usable"):  # still named after a batch
        erc(conversations[:2] + [[{"speaker": "Diane", "text": " "}]], conversation_batch_size=3)


# ------------------------------------------------------------------ issue 27: sizes and text checked before the work


@pytest.mark.parametrize(
    ("audio", "message"),
    [({"array": np.full(160_000, 0.1, np.float32), "sampling_rate": 1}, "sampling rate 1 Hz is not an audio rate"),
     ({"array": np.full(100, 0.1, np.float32), "sampling_rate": 10**9}, "sampling rate 1000000000 Hz is not an audio rate")],
    ids=["1-Hz", "1-GHz"],
)
def test_mislabelled_audio_rates_are_refused_before_resampling(erc, audio, message):
    with pytest.raises(ValueError, match=rf"turn 1: audio array: {message}"):
        erc([{"speaker": "A", "text": "Hello?"}, {"speaker": "B", "audio": audio}])


def test_audio_shorter_than_one_window_is_absent_not_zeros(erc, tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "one.wav", np.array([0.5], np.float32), 16000)
    rng = np.random.default_rng(0)
    for audio in ({"array": np.array([0.5], np.float32), "sampling_rate": 16000},
                  {"array": rng.normal(size=100).astype(np.float32) * 0.1, "sampling_rate": 16000},
                  str(tmp_path / "one.wav")):
        result = erc([{"speaker": "A", "text": "Hello?"}, {"speaker": "B", "text": "So?", "audio": audio}])
        assert result[1]["modalities"] == ["text"]


def test_a_lone_surrogate_in_text_is_named(erc):
    with pytest.raises(ValueError, match=r"turn 1: its text holds a lone surrogate '\\ud800' at character 3"):
        erc([{"speaker": "A", "text": "Hello?"}, {"speaker": "B", "text": "oh \ud800"}])
    with pytest.raises(ValueError, match=r"conversation 1: turn 0: its text holds a lone surrogate"):
        erc([[{"speaker": "A", "text": "Hello?"}], [{"speaker": "B", "text": "\udcff"}]])


def test_long_causal_conversations_use_a_stated_window_in_linear_time(erc, monkeypatch, caplog):
    """Past `2 * CAUSAL_WINDOW_TURNS` turns, each turn's context is its last W..2W turns: the first 2W turns equal the
    exact causal prediction, a later turn equals the causal prediction of the conversation cut W..2W turns before it,
    no turn looks at a later one, and a warning says so."""
    import logging

    from modeling_emoje import pipeline_emoje

    rng = np.random.default_rng(0)
    turns = [{"speaker": f"s{i % 2}", "text_features": rng.normal(size=(1, 384)).astype(np.float32),
              "audio_features": rng.normal(size=(3, 80)).astype(np.float32)} for i in range(9)]
    exact = erc(turns, causal=True)
    monkeypatch.setattr(pipeline_emoje, "CAUSAL_WINDOW_TURNS", 2)
    with caplog.at_level(logging.WARNING, logger="modeling_emoje.pipeline_emoje"):
        windowed = erc(turns, causal=True)
    assert "each turn's context is its last 2 to 4 turns" in caplog.text
    for turn in range(4):
        assert windowed[turn]["scores"] == pytest.approx(exact[turn]["scores"], abs=1e-5)
    for turn in range(4, 9):
        low = (turn // 2) * 2 - 2
        cut = erc(turns[low : turn + 1], causal=True)[-1]  # short: the exact path
        assert windowed[turn]["scores"] == pytest.approx(cut["scores"], abs=1e-5)
    changed = erc(turns[:8] + [{**turns[8], "text_features": -turns[8]["text_features"]}], causal=True)
    assert [t["scores"] for t in changed[:8]] == [t["scores"] for t in windowed[:8]]
