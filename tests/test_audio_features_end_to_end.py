"""Issue 26 end to end, one test per audio route (openSMILE eGeMAPS, a local speech encoder): `emoje-prepare
--audio-features` on the MELD.Raw-style fixture and on the real call, `emoje-train` on the call, and `pipeline()` on
the real call computing the very features the model was trained on (its saved processor's extractor)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dataset_scripts import load_prepared, read_prepared_metadata
from dataset_scripts.cli import main as prepare
from tests.audio_fixtures import save_tiny_encoder
from tests.dataset_fixtures import make_meld_tree
from tests.synthetic_data import one_thread, train_args  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow
LABELS = ["neutral", "joy", "surprise"]


def write_call_corpus(folder: Path, media_dir: Path) -> Path:
    """The real call as a user corpus: sample.wav cut at the sample.stm times into one wav per turn, three dialogues
    (train/validation/test) and placeholder labels (the call has no emotion labels)."""
    from training.inference.transcripts import read_stm

    turns = read_stm(media_dir / "conversation" / "sample.stm")
    wave, rate = sf.read(media_dir / "conversation" / "sample.wav", dtype="float32")
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    rows = []
    for index, turn in enumerate(turns):
        sf.write(folder / "audio" / f"turn{index:02d}.wav", wave[int(turn.start * rate) : int(turn.end * rate)], rate)
        dialogue, split = ("a", "train") if index < 7 else (("b", "validation") if index < 10 else ("c", "test"))
        rows.append({"dialogue_id": dialogue, "utterance_id": index, "speaker": turn.speaker, "text": turn.text,
                     "label": LABELS[index % 3], "split": split, "audio": f"audio/turn{index:02d}.wav"})
    (folder / "corpus.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def _prepare(corpus: str, data_dir: Path, out: Path, cache: Path, minilm: str, options: list[str]) -> dict:
    argv = [corpus, "--data-dir", str(data_dir), "--output", str(out), "--features", "text,audio", "--text-encoder",
            minilm, "--cache-dir", str(cache), "--no-progress", *options]
    assert prepare(argv + (["--labels", ",".join(LABELS)] if corpus == "conversations" else [])) == 0
    return read_prepared_metadata(out)["features"]["audio"]


def _route(tmp_path, media_dir, minilm_path, options: list[str], name: str, dim: int):
    from transformers import pipeline

    import modeling_emoje  # noqa: F401 (registers the pipeline task)
    from modeling_emoje.processing_emoje import EmoJEProcessor
    from training.inference.transcripts import read_stm
    from training.train.run import run

    make_meld_tree(tmp_path / "meld")
    meld = _prepare("meld", tmp_path / "meld", tmp_path / "meld-prepared", tmp_path / "cache", minilm_path, options)
    assert meld["dim"] == dim and meld["rows"] == {"train": 7, "validation": 3, "test": 3}  # bad clips stay absent
    record = meld["extractor"]["audio_features"]
    assert record["name"] == name and record["feature_dim"] == dim

    call = write_call_corpus(tmp_path / "call", media_dir)
    prepared = tmp_path / "call-prepared"
    info = _prepare("conversations", call, prepared, tmp_path / "cache", minilm_path, options)
    assert info["dim"] == dim and info["extractor"]["audio_features"]["fingerprint"] == record["fingerprint"]

    summary = run(train_args(prepared, tmp_path / "run", "--modalities", "text,audio", "--eval_scenarios", "full", max_steps=2))
    model_dir = Path(summary["model_dir"])
    assert json.loads((model_dir / "config.json").read_text())["modality_dims"] == {"text": 384, "audio": dim}
    saved = json.loads((model_dir / "processor_config.json").read_text())["audio_features"]
    assert saved["fingerprint"] == record["fingerprint"] and str(tmp_path) not in json.dumps(saved)

    erc = pipeline("emotion-recognition-in-conversation", model=str(model_dir))
    assert erc.processor.audio_extractor.fingerprint == record["fingerprint"]
    wav = media_dir / "conversation" / "sample.wav"
    turns = read_stm(media_dir / "conversation" / "sample.stm")
    conversation = [{"speaker": t.speaker, "text": t.text, "audio": {"path": str(wav), "start": t.start, "end": t.end}} for t in turns]
    results = erc(conversation)
    assert len(results) == 13 and all(result["modalities"] == ["text", "audio"] for result in results)
    assert all(set(result["scores"]) == set(LABELS) for result in results)

    # the features at inference are the training data's, value for value (same turn file, same extractor)
    row = load_prepared(prepared)["train"][0]
    batch = erc.processor([{"speaker": "A", "audio": str(call / "audio" / "turn00.wav")}], modality_dims={"audio": dim})
    frames = batch["audio_features"][0, 0][batch["audio_attention_mask"][0, 0].bool()].numpy()
    np.testing.assert_allclose(frames, np.asarray(row["audio_features"], np.float32), rtol=1e-5, atol=1e-5)

    # a different extractor than the model was trained on is refused, naming both
    with pytest.raises(ValueError, match=rf"trained on {name} .* but logmel .* was asked for"):
        EmoJEProcessor.from_pretrained(model_dir, audio_features="logmel")
    return model_dir


def test_egemaps_route_end_to_end(tmp_path, media_dir, minilm_path):
    pytest.importorskip("opensmile", reason="the egemaps route needs the opensmile extra")
    model_dir = _route(tmp_path, media_dir, minilm_path, ["--audio-features", "egemaps"], "egemaps", 25)
    assert not (model_dir / "audio_encoder").exists()
    card = (model_dir / "README.md").read_text()  # the card names the extractor, its version, settings and license
    assert "**Audio features:** openSMILE eGeMAPS" in card and "opensmile 2.6" in card and "audEERING" in card


def test_local_speech_encoder_route_end_to_end(tmp_path, media_dir, minilm_path):
    encoder = save_tiny_encoder(tmp_path / "tiny-wavlm", "wavlm")
    options = ["--audio-features", str(encoder), "--audio-option", "pooling=frames", "--audio-option", "layer=2"]
    model_dir = _route(tmp_path, media_dir, minilm_path, options, "encoder", 32)
    saved = json.loads((model_dir / "processor_config.json").read_text())["audio_features"]
    assert saved["settings"]["model"] == "./audio_encoder" and saved["settings"]["layer"] == 2
    assert "**Audio features:** a local speech encoder (copied into audio_encoder/), 32 per frame" in (model_dir / "README.md").read_text()
    assert sorted(p.name for p in (model_dir / "audio_encoder").iterdir()) == ["config.json", "model.safetensors", "preprocessor_config.json"]
    # the copy is the same encoder; another one (other weights) is refused, naming both
    other = save_tiny_encoder(tmp_path / "other-wavlm", "wavlm", seed=1)
    from modeling_emoje.processing_emoje import EmoJEProcessor

    with pytest.raises(ValueError, match="trained on encoder .* but encoder .*other-wavlm"):
        EmoJEProcessor.from_pretrained(model_dir, audio_features={"name": "encoder", "model": str(other), "layer": 2, "pooling": "frames"})
