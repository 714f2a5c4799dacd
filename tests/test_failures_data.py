"""Issue 16 B, "nothing silently wrong, nothing lost": data preparation, the feature cache and pipeline inputs.

Each test feeds one bad input or one fault (a killed save, a second writer, a damaged cache shard, a silent or
one-hour wav, huge values, a misspelled key) and checks the behaviour that could go wrong: the error names the
file / option / turn, the previous data is intact and loads, re-extracted rows equal the originals.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dataset_scripts import build_conversations, extract_features, load_prepared, read_prepared_metadata
from dataset_scripts.cli import main
from dataset_scripts.feature_cache import DAMAGED_SUFFIX, FeatureCache
from dataset_scripts.output_folder import output_lock
from dataset_scripts.schema import SPLITS
from tests.dataset_fixtures import CountingEncoder, HashEncoder, make_conversations_tree

REPO_ROOT = Path(__file__).resolve().parents[1]
LABELS = "neutral,joy,surprise,anger"


def _prepare_argv(corpus: Path, output: Path, *extra: str, labels: str = LABELS) -> list[str]:
    return ["conversations", "--data-dir", str(corpus), "--output", str(output), "--features", "none",
            "--labels", labels, "--no-progress", *extra]


def _rows(dataset) -> dict[str, list[dict]]:
    return {split: dataset[split].to_list() for split in SPLITS}


def _exit_message(capsys, argv: list[str]) -> str:
    """Run emoje-prepare, expect exit code 2 and return its stderr (checked to be one line, no traceback)."""
    capsys.readouterr()  # forget what earlier commands printed
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture
def corpus(tmp_path) -> Path:
    make_conversations_tree(tmp_path / "corpus")
    return tmp_path / "corpus"


# ------------------------------------------------------------------------------ 3. the output folder


def test_output_that_is_a_file_is_refused_untouched(tmp_path, corpus, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("my notes")
    err = _exit_message(capsys, _prepare_argv(corpus, target))
    assert f"--output: {target} is a file" in err
    assert target.read_text() == "my notes"
    assert not (tmp_path / ".notes.txt.lock").exists()  # nothing created beside it either


def test_non_dataset_folder_is_refused_and_its_files_kept(tmp_path, corpus, capsys):
    folder = tmp_path / "results"
    (folder / "train").mkdir(parents=True)  # names that save_to_disk would write over
    (folder / "train" / "state.json").write_text("mine")
    (folder / "dataset_dict.json").write_text("mine too")
    err = _exit_message(capsys, _prepare_argv(corpus, folder))
    assert f"{folder} is a non-empty folder that is not a prepared dataset" in err and "train" in err
    assert (folder / "train" / "state.json").read_text() == "mine"
    assert (folder / "dataset_dict.json").read_text() == "mine too"


def test_prepared_dataset_holding_other_files_is_not_replaced(tmp_path, corpus, capsys):
    output = tmp_path / "prepared"
    assert main(_prepare_argv(corpus, output)) == 0
    (output / "my_notes.md").write_text("keep me")
    err = _exit_message(capsys, _prepare_argv(corpus, output))
    assert "also holds other files (my_notes.md)" in err
    assert (output / "my_notes.md").read_text() == "keep me"


def test_rerun_replaces_the_dataset_whole_and_leaves_nothing_beside_it(tmp_path, corpus):
    output = tmp_path / "prepared"
    assert main(_prepare_argv(corpus, output)) == 0
    assert main(_prepare_argv(corpus, output, labels="anger,joy,neutral,surprise")) == 0
    assert load_prepared(output)["train"].features["label"].names == ["anger", "joy", "neutral", "surprise"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".prepared.lock", "corpus", "prepared"]


_PAUSED_PREPARE = """
import sys, time
from pathlib import Path
import datasets
from dataset_scripts.cli import main

ready, argv = Path(sys.argv[1]), sys.argv[2:]
save_split = datasets.Dataset.save_to_disk

def save_then_pause(self, path, **kwargs):  # the first split is written, the others never are
    save_split(self, path, **kwargs)
    ready.write_text(str(path))
    time.sleep(600)

datasets.Dataset.save_to_disk = save_then_pause
sys.exit(main(argv))
"""


def test_killed_save_keeps_the_previous_dataset_and_a_second_writer_fails(tmp_path, corpus, capsys):
    output = tmp_path / "prepared"
    assert main(_prepare_argv(corpus, output)) == 0
    previous = _rows(load_prepared(output))
    ready = tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    writer = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_PREPARE, str(ready),
         *_prepare_argv(corpus, output, labels="anger,joy,neutral,surprise")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert writer.poll() is None, writer.stderr.read().decode()
            assert time.monotonic() < deadline, "the writer never reached its save"
            time.sleep(0.1)
        assert Path(ready.read_text()).parent.name.startswith(".prepared.partial-")  # writing beside, not into
        # a second writer into the same folder fails at once, naming the holder
        err = _exit_message(capsys, _prepare_argv(corpus, output))
        assert f"{output} is being written by another process (pid {writer.pid}" in err
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)
    assert writer.returncode == -signal.SIGKILL
    assert _rows(load_prepared(output)) == previous  # intact, loads, old labels and metadata
    assert read_prepared_metadata(output)["label_names"] == LABELS.split(",")
    assert any(p.name.startswith(".prepared.partial-") for p in tmp_path.iterdir())
    # the next run cleans the unfinished copy up and succeeds
    assert main(_prepare_argv(corpus, output, labels="anger,joy,neutral,surprise")) == 0
    assert load_prepared(output)["test"].features["label"].names[0] == "anger"
    assert not any(".partial-" in p.name or ".previous-" in p.name for p in tmp_path.iterdir())


def test_kill_between_the_two_renames_restores_the_previous_dataset(tmp_path, corpus):
    output = tmp_path / "prepared"
    assert main(_prepare_argv(corpus, output)) == 0
    previous = _rows(load_prepared(output))
    os.rename(output, tmp_path / f".prepared.previous-{os.getpid()}-0")  # moved aside, new one not yet renamed in
    with output_lock(output):
        pass
    assert _rows(load_prepared(output)) == previous


# ------------------------------------------------------------------------------ 4. empty splits


def test_empty_split_is_refused_at_prepare_time_naming_it(tmp_path, corpus, capsys):
    rows = [("d1", 0, "ann", "Hi", "joy", "train", ""), ("d2", 0, "bob", "Oh", "neutral", "test", "")]
    make_conversations_tree(tmp_path / "no_dev", rows=rows)
    output = tmp_path / "prepared"
    err = _exit_message(capsys, _prepare_argv(tmp_path / "no_dev", output, labels="neutral,joy"))
    assert "the validation split is empty under the protocol conversations/given" in err
    assert "--allow-empty-splits" in err and not output.exists()
    assert main(_prepare_argv(tmp_path / "no_dev", output, "--allow-empty-splits", labels="neutral,joy")) == 0
    dataset = load_prepared(output)  # deliberate: saved loadable, with zero rows
    assert [dataset[split].num_rows for split in SPLITS] == [1, 0, 1]


def test_empty_split_of_an_older_save_is_a_clear_load_error(tmp_path, corpus):
    output = tmp_path / "prepared"
    assert main(_prepare_argv(corpus, output)) == 0
    state = output / "validation" / "state.json"  # what an older emoje-prepare wrote for 0 rows: no data file
    state.write_text(json.dumps({**json.loads(state.read_text()), "_data_files": []}))
    for data_file in (output / "validation").glob("*.arrow"):
        data_file.unlink()
    with pytest.raises(ValueError, match=r"split\(s\) \['validation'\] hold no data file"):
        load_prepared(output)


# ------------------------------------------------------------------------------ 5. damaged feature-cache shards


@pytest.mark.parametrize("damage", ["flipped byte (bad CRC)", "truncated (bad zip)"])
def test_damaged_cache_shard_is_set_aside_and_only_its_rows_reextracted(tmp_path, corpus, caplog, damage):
    built = build_conversations(str(corpus), labels=LABELS.split(","))
    cache = tmp_path / "cache"
    first = extract_features(built, ["text"], text_encoder=CountingEncoder(HashEncoder()), cache_dir=cache,
                             progress=False, shard_rows=2)  # same encoder class both times: same cache folder
    shards = sorted(cache.rglob("shard-*.npz"))
    assert len(shards) >= 2
    shard = shards[0]
    rows_in_shard = len(FeatureCache.read_shard(shard))
    raw = shard.read_bytes()
    shard.write_bytes(raw[:60] + bytes([raw[60] ^ 0xFF]) + raw[61:] if "CRC" in damage else raw[: len(raw) // 2])

    encoder = CountingEncoder(HashEncoder())
    with caplog.at_level(logging.WARNING, logger="dataset_scripts.feature_cache"):
        again = extract_features(built, ["text"], text_encoder=encoder, cache_dir=cache, progress=False)
    assert str(shard) in caplog.text and "its rows will be extracted again" in caplog.text
    assert not shard.exists() and shard.with_name(shard.name + DAMAGED_SUFFIX).is_file()  # renamed, not deleted
    assert encoder.texts == rows_in_shard  # only the damaged shard's rows
    for split in SPLITS:
        assert again[split]["text_features"] == first[split]["text_features"]


# ------------------------------------------------------------------------------ 8. prepare option errors


def test_bad_text_encoder_is_a_one_line_error_naming_the_option(tmp_path, corpus, capsys):
    argv = _prepare_argv(corpus, tmp_path / "out")
    argv[argv.index("--features") + 1] = "text"
    err = _exit_message(capsys, argv + ["--text-encoder", str(tmp_path / "no-such-model")])
    assert f"--text-encoder {tmp_path / 'no-such-model'}: no such folder" in err
    err = _exit_message(capsys, argv + ["--text-encoder", str(corpus)])  # a folder, but not a model
    assert f"--text-encoder {corpus}: cannot load a text encoder from it" in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------ 7. pipeline inputs


@pytest.fixture(scope="module")
def erc(minilm_path):
    import torch
    from transformers import pipeline

    from modeling_emoje.pipeline_emoje import TASK
    from modeling_emoje.processing_emoje import EmoJEProcessor
    from tests.modeling_emoje.test_pipeline import _tiny_emoje

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield pipeline(TASK, model=_tiny_emoje(), processor=EmoJEProcessor.from_text_encoder(minilm_path))
    torch.set_num_threads(threads)


def test_silent_audio_file_is_absent_audio_like_the_zeros_array(erc, tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    results = erc([
        {"speaker": "A", "text": "Hello?", "audio": str(silent)},
        {"speaker": "B", "text": "Hi.", "audio": {"array": np.zeros(8000), "sampling_rate": 8000}},
    ])
    assert [r["modalities"] for r in results] == [["text"], ["text"]]
    assert all("audio" in r["imputed"] and np.isfinite(r["score"]) for r in results)
    with pytest.raises(ValueError, match=r"turn 1 has nothing usable.*its audio is silent"):
        erc([{"speaker": "A", "text": "Hello?"}, {"speaker": "B", "audio": str(silent)}])


@pytest.mark.parametrize("causal", [False, True])
def test_huge_finite_values_never_give_a_nan_label(erc, causal):
    turns = [{"speaker": "A", "text": "Hello?"}, {"speaker": "B", "text": "Oh.", "face": np.full((3, 204), 1e30)},
             {"speaker": "A", "text": "Fine."}]
    with pytest.raises(ValueError, match=r"^turn 1: the model's scores are not finite .* its face input "
                                         r"\(largest \|value\| 1e\+30\)"):
        erc(turns, causal=causal)
    with pytest.raises(ValueError, match=r"^conversation 1: turn 0: .* its face input"):
        erc([turns[:1], turns[1:]])


@pytest.mark.parametrize(("key", "guess"), [("audo", "audio"), ("vidoe", "video"), ("face_features", "face")])
def test_misspelled_turn_key_is_named(erc, key, guess):
    turns = [{"speaker": "A", "text": "Hello?"}, {"speaker": "B", "text": "Hi.", key: "clip"}]
    with pytest.raises(ValueError, match=rf"^turn 1: unknown key '{key}' \(did you mean '{guess}'\?\); a turn's "
                                         r"keys are speaker, text, audio, video, face, body"):
        erc(turns)


def test_blockwise_decoding_equals_decoding_the_whole_cut(tmp_path, monkeypatch):
    from modeling_emoje import media_io

    rng = np.random.default_rng(0)
    path = tmp_path / "stereo_44k.wav"
    stereo = (rng.standard_normal((44100 * 3, 2)) * 0.1).astype(np.float32)
    sf.write(path, stereo, 44100, subtype="FLOAT")
    monkeypatch.setattr(media_io, "AUDIO_BLOCK_SECONDS", 0.25)  # 12 blocks with resampling context at each seam
    for start, end in ((None, None), (0.37, 2.91)):
        first, last = round((start or 0) * 44100), None if end is None else round(end * 44100)
        whole = media_io.resample(stereo[first:last].mean(axis=1, dtype=np.float32), 44100, 16000)
        np.testing.assert_allclose(media_io.load_audio(path, start=start, end=end), whole, atol=1e-6)


def test_chunked_log_mel_equals_the_one_pass_features(monkeypatch, media_dir):
    from modeling_emoje import feature_extraction_emoje as fe
    from modeling_emoje.media_io import load_audio

    wave = load_audio(media_dir / "conversation" / "sample.wav", end=12.0)
    extractor = fe.EmoJEFeatureExtractor()
    one_pass = extractor.extract(wave)
    monkeypatch.setattr(fe, "STFT_CHUNK_FRAMES", 37)  # rounded to 40 frames (4 pooled frames) per chunk
    np.testing.assert_allclose(extractor.extract(wave), one_pass, atol=1e-4)
    full = extractor.log_mel(wave)  # the reference: normalise the full-rate frames, then pool
    reference = extractor._pool_rate((full - full.mean(0)) / np.sqrt(full.var(0) + 1e-5))  # 12 s: under max_frames
    np.testing.assert_allclose(one_pass, reference, atol=1e-4)


def test_long_uncut_wav_is_featurised_in_bounded_memory(tmp_path, media_dir):
    from modeling_emoje.feature_extraction_emoje import EmoJEFeatureExtractor

    speech, rate = sf.read(media_dir / "conversation" / "sample.wav", dtype="int16")
    path = tmp_path / "ten_minutes.wav"
    sf.write(path, np.tile(speech, 20), rate, subtype="PCM_16")  # 10 min at 16 kHz
    waveform_bytes = 600 * 16000 * 4
    extractor = EmoJEFeatureExtractor()
    tracemalloc.start()
    try:
        features = extractor.extract_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert features.shape == (300, 80) and np.isfinite(features).all()
    # streamed: a fixed working set (16 MiB), less than the 37 MiB waveform itself (was about 14x the waveform)
    assert peak < 24 * 2**20, f"peak {peak / 2**20:.0f} MiB for a {waveform_bytes / 2**20:.0f} MiB waveform"


def test_streamed_file_features_equal_the_in_memory_ones(tmp_path, monkeypatch, media_dir):
    from modeling_emoje import feature_extraction_emoje as fe
    from modeling_emoje import media_io

    speech, rate = sf.read(media_dir / "conversation" / "sample.wav", dtype="float32")
    path = tmp_path / "stereo_22k.wav"
    sf.write(path, np.stack([speech, speech * 0.5], 1)[: rate * 12], rate)  # 12 s stereo at 16 kHz, read at 22.05 kHz
    extractor = fe.EmoJEFeatureExtractor(sampling_rate=22050)
    in_memory = extractor.extract(media_io.load_audio(path, sampling_rate=22050, start=0.5))
    monkeypatch.setattr(media_io, "AUDIO_BLOCK_SECONDS", 0.7)  # blocks and STFT chunks that never line up
    monkeypatch.setattr(fe, "STFT_CHUNK_FRAMES", 230)
    np.testing.assert_allclose(extractor.extract_file(path, start=0.5), in_memory, atol=1e-4)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(rate * 3, np.float32), rate)
    with pytest.raises(media_io.SilentAudioError, match="silent.wav"):  # checked at the end of the stream
        extractor.extract_file(silent)
