"""A folder of .stm/.rttm transcripts beside media: the conversations emoje-predict reads, and its errors."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from modeling_emoje import EmoJEConfig
from tests.modeling_common import save_text_model_with_large_weights
from tests.synthetic_data import TINY_CONFIG
from training.cli import predict
from training.inference.transcripts import read_rttm, read_stm, read_transcript_folder

LABELS = ["anger", "joy", "neutral", "sadness"]


def _stm_rows(path: Path) -> list[tuple[str, float, float, str]]:
    rows = []
    for line in path.read_text().splitlines():
        _, _, speaker, start, end, text = line.split(" ", 5)
        rows.append((speaker, float(start), float(end), text))
    return rows


@pytest.fixture()
def sample_folder(media_dir, tmp_path) -> Path:
    """A copy of conversation/sample.{wav,stm,rttm}, so that files can be removed or added."""
    folder = tmp_path / "calls"
    shutil.copytree(media_dir / "conversation", folder)
    return folder


def _tiny_call(folder: Path, name: str = "call", seconds: float = 3.0, stm: str | None = None) -> Path:
    """NAME.wav (a quiet tone) and, if given, NAME.stm in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(folder / f"{name}.wav", (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    if stm is not None:
        (folder / f"{name}.stm").write_text(stm)
    return folder


def test_stm_folder_gives_one_conversation_of_timed_turns(sample_folder):
    (sample_folder / "sample.rttm").unlink()
    [conversation] = read_transcript_folder(sample_folder)
    rows = _stm_rows(sample_folder / "sample.stm")
    assert conversation.id == "sample" and conversation.source == str(sample_folder / "sample.stm")
    assert len(conversation.turns) == len(rows) == 13
    wav = str(sample_folder / "sample.wav")
    for turn, (speaker, start, end, text) in zip(conversation.turns, rows):
        assert turn == {"speaker": speaker, "text": text, "audio": {"path": wav, "start": start, "end": end}}


def test_rttm_folder_gives_speaker_turns_without_text_in_time_order(sample_folder):
    (sample_folder / "sample.stm").unlink()
    [conversation] = read_transcript_folder(sample_folder)
    lines = [line.split() for line in (sample_folder / "sample.rttm").read_text().splitlines()]
    assert len(conversation.turns) == len(lines) == 10
    expected = sorted((float(f[3]), float(f[3]) + float(f[4]), f[7]) for f in lines)
    for turn, (start, end, speaker) in zip(conversation.turns, expected):
        assert set(turn) == {"speaker", "audio"} and turn["speaker"] == speaker
        assert turn["audio"]["start"] == start and math.isclose(turn["audio"]["end"], end)
    starts = [turn["audio"]["start"] for turn in conversation.turns]
    assert starts == sorted(starts)


def test_stm_wins_over_rttm_and_media_without_transcript_are_skipped(sample_folder, caplog):
    shutil.copy(sample_folder / "sample.wav", sample_folder / "lonely.wav")
    [conversation] = read_transcript_folder(sample_folder)
    assert conversation.source.endswith("sample.stm") and all("text" in turn for turn in conversation.turns)
    assert "1 media file(s) without a NAME.stm/NAME.rttm transcript skipped" in caplog.text


def test_video_media_gives_video_spans(media_dir, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(media_dir / "video" / "single_face.mp4", folder / "clip.mp4")  # 2.4 s
    (folder / "clip.rttm").write_text("SPEAKER clip 1 0.00 1.00 <NA> <NA> A <NA> <NA>\nSPEAKER clip 1 1.00 1.40 <NA> <NA> B <NA> <NA>\n")
    [conversation] = read_transcript_folder(folder)
    assert conversation.turns[1] == {"speaker": "B", "video": {"path": str(folder / "clip.mp4"), "start": 1.0, "end": 2.4}}
    (folder / "clip.rttm").write_text("SPEAKER clip 1 2.00 3.00 <NA> <NA> A <NA> <NA>\n")
    with pytest.raises(ValueError, match=re.escape(f"{folder / 'clip.rttm'} line 1: the turn ends at 5 s, after the end of clip.mp4")):
        read_transcript_folder(folder)


def test_stm_comments_labels_and_non_speech_segments(tmp_path):
    stm = (
        ";; CATEGORY \"0\" \"\" \"\"\n"
        "call 1 Ann 0.0 1.0 <o,f0,female> Hello there.\n"
        "call 1 inter_segment_gap 1.0 1.2 <o,,unknown>\n"
        "call 1 Ben 1.2 2.0 ignore_time_segment_in_scoring\n"
        "call A Ben 2.0 2.5\n"
    )
    folder = _tiny_call(tmp_path / "f", stm=stm)
    turns = read_stm(folder / "call.stm")
    assert [(t.speaker, t.start, t.end, t.text, t.line) for t in turns] == [
        ("Ann", 0.0, 1.0, "Hello there.", 2), ("Ben", 2.0, 2.5, None, 5)
    ]
    [conversation] = read_transcript_folder(folder)
    assert "text" not in conversation.turns[1]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("call.stm", "call 1 Ann 0.0 1.0 Hi\ncall 1 Ben 1.5\n", r"call\.stm line 2: expected 'NAME CHANNEL SPEAKER START END"),
        ("call.stm", "call 1 Ann 1.0 1.0 Hi\n", r"call\.stm line 1: END \(1\.0\) must be greater than START \(1\.0\)"),
        ("call.stm", "call 1 Ann 0.5 x Hi\n", r"call\.stm line 1: END 'x' is not a number of seconds"),
        ("call.stm", "call 1 Ann 1.0 9.0 Hi\n", r"call\.stm line 1: the turn ends at 9 s, after the end of call\.wav \(3\.000 s\)"),
        ("call.stm", "other 1 Ann 0.0 1.0 Hi\n", r"call\.stm line 1: the file field is 'other', not 'call'"),
        ("call.stm", ";; nothing\n\n", r"call\.stm: no turn"),
        ("call.rttm", "SPEAKER call 1 0.5 0.0 <NA> <NA> A <NA> <NA>\n", r"call\.rttm line 1: DURATION must be > 0"),
        ("call.rttm", "SPEAKER call 1 0.5 1.0 <NA>\n", r"call\.rttm line 1: expected 'SPEAKER NAME CHANNEL"),
        ("call.rttm", "call 1 Ann 0.0 1.0 Hi\n", r"call\.rttm line 1: 'call' is not an RTTM line type"),
    ],
    ids=["stm-fields", "stm-end", "stm-number", "stm-beyond", "stm-name", "stm-empty", "rttm-dur", "rttm-fields", "rttm-type"],
)
def test_bad_transcript_lines_are_named(tmp_path, name, content, message):
    folder = _tiny_call(tmp_path / "f")
    (folder / name).write_text(content)
    with pytest.raises(ValueError, match=message):
        read_transcript_folder(folder)


def test_missing_or_ambiguous_media_and_empty_folders(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "call.stm").write_text("call 1 Ann 0.0 1.0 Hi\n")
    with pytest.raises(ValueError, match=r"call\.stm: no media beside it \(expected call with one of \.wav"):
        read_transcript_folder(folder)
    _tiny_call(folder)
    _tiny_call(folder.parent / "g")
    shutil.copy(folder.parent / "g" / "call.wav", folder / "call.flac")
    with pytest.raises(ValueError, match=r"call\.stm: several audio files of that name \(call\.flac, call\.wav\)"):
        read_transcript_folder(folder)
    with pytest.raises(ValueError, match=r"holds no \.stm or \.rttm transcript"):
        read_transcript_folder(folder.parent / "g")
    (folder / "call.wav").write_bytes(b"not audio")
    (folder / "call.flac").unlink()
    with pytest.raises(ValueError, match=r"call\.wav: cannot read the media file"):
        read_transcript_folder(folder)


def test_rttm_reader_keeps_file_order_and_skips_other_types(tmp_path):
    path = tmp_path / "x.rttm"
    path.write_text(
        "SPKR-INFO x 1 <NA> <NA> <NA> unknown A <NA> <NA>\n"
        "SPEAKER x 1 2.0 1.0 <NA> <NA> B <NA> <NA>\n"
        "SPEAKER x 1 0.5 0.25 <NA> <NA> A <NA> <NA>\n"
    )
    assert [(t.speaker, t.start, t.end, t.line) for t in read_rttm(path)] == [("B", 2.0, 3.0, 2), ("A", 0.5, 0.75, 3)]


@pytest.fixture(scope="module")
def audio_text_model(tmp_path_factory, minilm_path) -> Path:
    """A tiny AM^2-EmoJE reading MiniLM text (384) and log-mel audio (80), with its processor."""
    config = EmoJEConfig(
        modality_dims={"text": 384, "audio": 80}, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={label: index for index, label in enumerate(LABELS)}, **TINY_CONFIG,
    )
    return save_text_model_with_large_weights(config, tmp_path_factory.mktemp("model"), minilm_path)


def test_emoje_predict_reads_a_transcript_folder(audio_text_model, sample_folder, tmp_path):
    from transformers import pipeline

    from modeling_emoje.pipeline_emoje import TASK

    output = tmp_path / "out.jsonl"
    argv = ["--model", str(audio_text_model), "--input", str(sample_folder), "--output", str(output), "--quiet"]
    assert predict.main(argv) == 0
    [record] = [json.loads(line) for line in output.read_text().splitlines()]
    assert record["id"] == "sample" and len(record["turns"]) == 13
    assert all(turn["modalities"] == ["text", "audio"] for turn in record["turns"])
    expected = pipeline(TASK, model=str(audio_text_model))(read_transcript_folder(sample_folder)[0].turns)
    for got, want in zip(record["turns"], expected):
        assert got["label"] == want["label"] and math.isclose(got["score"], want["score"], abs_tol=1e-5)


def test_help_states_the_folder_input(capsys):
    with pytest.raises(SystemExit):
        predict.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "FILE.jsonl|FOLDER" in text and "(detected: a folder) a folder of NAME.stm" in text
