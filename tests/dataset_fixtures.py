"""Synthetic corpora in the exact official layouts of MELD, IEMOCAP and MSP-IMPROV (and a user corpus), for tests.

Each `make_*_tree(root)` writes a small tree with the awkward cases DATA.md lists and returns what a correct builder
must find (counts, ids), so tests assert against numbers computed here rather than re-derived by the code under test.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
_CLIP_CACHE: dict[str, bytes] = {}


def write_wav(path: Path, seconds: float = 0.3, frequency: float = 220.0) -> Path:
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), SAMPLE_RATE)
    return path


def _encode_clip() -> bytes:
    """A real, tiny mp4 (mpeg4 video 32x32 at 10 fps + 0.5 s AAC tone) made with PyAV."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        video = container.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        audio = container.add_stream("aac", rate=SAMPLE_RATE)
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * index, np.uint8), format="rgb24")
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE)).astype(np.float32)
        for start in range(0, tone.size, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = SAMPLE_RATE, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return buffer.getvalue()


def write_clip(path: Path) -> Path:
    if "mp4" not in _CLIP_CACHE:
        _CLIP_CACHE["mp4"] = _encode_clip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_CLIP_CACHE["mp4"])
    return path


# ------------------------------------------------------------------------------------------------------ MELD

MELD_HEADER = [
    "Sr No.",
    "Utterance",
    "Speaker",
    "Emotion",
    "Sentiment",
    "Dialogue_ID",
    "Utterance_ID",
    "Season",
    "Episode",
    "StartTime",
    "EndTime",
]
_SENTIMENT = {
    "neutral": "neutral",
    "joy": "positive",
    "surprise": "positive",
    "anger": "negative",
    "sadness": "negative",
    "disgust": "negative",
    "fear": "negative",
}

# split -> dialogue -> [(utterance_id, speaker, text, emotion)]; dialogue 1 of train has a gap (utt 2 absent)
MELD_DIALOGUES = {
    "train": {
        0: [
            (
                0,
                "Chandler",
                "also I was the point person on my company’s transition, from the KL-5 to GR-6 system.",
                "neutral",
            ),
            (1, "The Interviewer", "You must’ve had your hands full.", "neutral"),
            (2, "Chandler", "That I did. That I did.", "joy"),
        ],
        1: [
            (0, "Joey", "Whoa, whoa, whoa!", "surprise"),
            (1, "Ross", 'Oh, "great", just great…', "anger"),
            (3, "Joey", "I’m scared, okay?", "fear"),
        ],
        125: [(2, "Monica", "Eww.", "disgust"), (3, "Rachel", "I’m so sorry.", "sadness")],
    },
    "dev": {
        0: [(0, "Phoebe", "Oh my God!", "surprise"), (1, "Monica", "What?", "neutral")],
        110: [(6, "Ross", "Hi.", "neutral"), (7, "Rachel", "Hey, you.", "joy")],
    },
    "test": {
        0: [(0, "Chandler", "Could I be wearing any more clothes?", "anger"), (1, "Joey", "No.", "neutral")],
        1: [(0, "Ross", "We were on a break!", "anger"), (1, "Rachel", "", "neutral")],
    },
}
MELD_CLIP_DIR = {"train": "train_splits", "dev": "dev_splits_complete", "test": "output_repeated_splits_test"}
MELD_CORRUPT = ("train", 125, 3)  # the raw release's corrupt clip
MELD_MISSING = ("dev", 110, 7)  # the raw release's missing clip
MELD_EMPTY = ("test", 1, 0)  # a zero-byte clip


def meld_csv_text(split: str, dialogues=None, mojibake: bool = False) -> str:
    rows = []
    number = 1
    for dialogue, turns in (dialogues or MELD_DIALOGUES[split]).items():
        for utterance, speaker, text, emotion in turns:
            if mojibake:
                text = text.encode("utf-8").decode("cp1252", errors="replace")
            rows.append(
                [
                    number,
                    text,
                    speaker,
                    emotion,
                    _SENTIMENT[emotion],
                    dialogue,
                    utterance,
                    8,
                    21,
                    f"00:16:{16 + utterance:02d},059",
                    f"00:16:{21 + utterance:02d},731",
                ]
            )
            number += 1
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # the real files use CRLF and quote fields holding commas
    writer.writerow(MELD_HEADER)
    writer.writerows(rows)
    return out.getvalue()


def make_meld_tree(root: Path, clips: bool = True, mojibake: bool = False) -> dict:
    """MELD's official layout; with `clips`, every clip exists except the missing one, one is corrupt, one empty."""
    root.mkdir(parents=True, exist_ok=True)
    expected = {"rows": {}, "dialogues": {}, "labels": {}}
    names = {"train": "train", "dev": "validation", "test": "test"}
    for split in ("train", "dev", "test"):
        (root / f"{split}_sent_emo.csv").write_text(
            meld_csv_text(split, mojibake=mojibake), encoding="utf-8", newline=""
        )
        turns = [t for d in MELD_DIALOGUES[split].values() for t in d]
        expected["rows"][names[split]] = len(turns)
        expected["dialogues"][names[split]] = len(MELD_DIALOGUES[split])
        expected["labels"][names[split]] = Counter(t[3] for t in turns)
        if not clips:
            continue
        for dialogue, dialogue_turns in MELD_DIALOGUES[split].items():
            for utterance, *_ in dialogue_turns:
                path = root / MELD_CLIP_DIR[split] / f"dia{dialogue}_utt{utterance}.mp4"
                key = (split, dialogue, utterance)
                if key == MELD_MISSING:
                    continue
                if key == MELD_CORRUPT:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated garbage, not a playable clip")
                elif key == MELD_EMPTY:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(b"")
                else:
                    write_clip(path)
    return expected


# --------------------------------------------------------------------------------------------------- IEMOCAP

# per dialog: (gender, label) turns in time order; the EmoEvaluation file lists F turns first, then M
_IEMOCAP_PATTERNS = [
    [("F", "neu"), ("M", "hap"), ("F", "exc"), ("M", "xxx"), ("F", "sad"), ("M", "ang"), ("F", "fru"), ("M", "sur")],
    [("M", "exc"), ("F", "neu"), ("M", "sad"), ("F", "xxx"), ("M", "fru"), ("F", "hap"), ("M", "oth"), ("F", "ang")],
]
IEMOCAP_UNTRANSCRIBED = "Ses02F_impro01_F002"
IEMOCAP_NO_WAV = "Ses03M_script01_1_M000"


def iemocap_dialogs(session: int) -> list[str]:
    return [f"Ses0{session}F_impro01", f"Ses0{session}M_script01_1"]


def make_iemocap_tree(root: Path) -> dict:
    """`IEMOCAP_full_release/` with 5 sessions x 2 dialogs x 8 turns (xxx, exc, sur, oth, noise lines, a ._ file)."""
    base = root / "IEMOCAP_full_release"
    labels: Counter = Counter()
    per_session: dict[int, Counter] = {}
    order: dict[str, list[str]] = {}
    for session in range(1, 6):
        per_session[session] = Counter()
        session_dir = base / f"Session{session}"
        evaluation_dir = session_dir / "dialog" / "EmoEvaluation"
        transcription_dir = session_dir / "dialog" / "transcriptions"
        for folder in (evaluation_dir / "Categorical", transcription_dir, session_dir / "dialog" / "avi" / "DivX"):
            folder.mkdir(parents=True, exist_ok=True)
        for index, dialog in enumerate(iemocap_dialogs(session)):
            counters = Counter()
            turns = []
            for position, (gender, label) in enumerate(_IEMOCAP_PATTERNS[index]):
                utterance = f"{dialog}_{gender}{counters[gender]:03d}"
                counters[gender] += 1
                start = 2.5 + 3.1 * position
                turns.append((utterance, gender, label, start, start + 2.25))
                labels[label] += 1
                per_session[session][label] += 1
            order[dialog] = [t[0] for t in turns if t[2] != "xxx"]
            blocks = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
            for utterance, _gender, label, start, end in sorted(turns, key=lambda t: (t[1], t[3])):
                blocks += [
                    f"[{start:.4f} - {end:.4f}]\t{utterance}\t{label}\t[2.5000, 3.0000, 2.5000]",
                    "C-E2:\tNeutral;\t()",
                    "C-E4:\tFrustration; Anger;\t(annoyed)",
                    "A-E3:\tval 3; act 2; dom  2;\t()",
                    "",
                ]
            (evaluation_dir / f"{dialog}.txt").write_text("\n".join(blocks) + "\n")
            (evaluation_dir / f"._{dialog}.txt").write_bytes(b"\x00\x05\x16\x07Mac OS X resource fork")
            (evaluation_dir / "Categorical" / f"{dialog}_e1_cat.txt").write_text(f"{dialog}_F000 :Neutral state; ()\n")
            lines = []
            for utterance, _gender, _label, start, end in turns:
                if utterance != IEMOCAP_UNTRANSCRIBED:
                    lines.append(f"{utterance} [{start:08.4f}-{end:08.4f}]: Words of {utterance}, spoken.")
                write_path = session_dir / "sentences" / "wav" / dialog / f"{utterance}.wav"
                if utterance != IEMOCAP_NO_WAV:
                    write_wav(write_path, seconds=0.2)
            lines.insert(2, f"{dialog}_MXX0 [010.0000-010.5000]: [LAUGHTER]")
            lines.insert(4, "M: [BREATHING]")
            (transcription_dir / f"{dialog}.txt").write_text("\n".join(lines) + "\n")
            (session_dir / "dialog" / "avi" / "DivX" / f"{dialog}.avi").write_bytes(b"RIFF....AVI placeholder")
    erc6 = {"hap", "sad", "neu", "ang", "exc", "fru"}
    mer4 = {"neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad"}
    return {
        "labels": labels,
        "per_session": per_session,
        "order": order,
        "erc6_total": sum(v for k, v in labels.items() if k in erc6),
        "erc6_test": sum(v for k, v in per_session[5].items() if k in erc6),
        "mer4_total": sum(v for k, v in labels.items() if k in mer4),
        "mer4_counts": Counter({m: sum(labels[k] for k, v in mer4.items() if v == m) for m in set(mer4.values())}),
        "xxx": labels["xxx"],
        "noise_lines": 10,  # one "M: [BREATHING]" per dialog
    }


# ------------------------------------------------------------------------------------------------ MSP-IMPROV

_MSP_LABEL_CYCLE = ["A", "H", "S", "N", "O", "N", "X", "H"]
MSP_NO_TRANSCRIPT = "MSP-IMPROV-S01A-F01-P-MF01"
MSP_NO_WAV = "MSP-IMPROV-S02H-M02-S-FM01"


def make_msp_improv_tree(root: Path) -> dict:
    """6 sessions x (S01A, S02H) x (P: 2 turns per actor, S: 1 per actor); labels cycle A H S N O N X H."""
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    labels: Counter = Counter()
    per_session: dict[int, Counter] = {}
    index = 0
    for session in range(1, 7):
        per_session[session] = Counter()
        for sentence in ("S01A", "S02H"):
            for scenario, turns in (("P", 2), ("S", 1)):
                for turn in range(1, turns + 1):
                    for gender, other in (("F", "M"), ("M", "F")):
                        utterance = f"MSP-IMPROV-{sentence}-{gender}{session:02d}-{scenario}-{other}{gender}{turn:02d}"
                        label = _MSP_LABEL_CYCLE[index % len(_MSP_LABEL_CYCLE)]
                        index += 1
                        labels[label] += 1
                        per_session[session][label] += 1
                        valence = "NaN" if index % 5 == 0 else "3.000000"
                        lines.append(
                            f"UTD-{utterance[4:]}.avi; {label}; A:2.600000; V:{valence}; D:2.800000 ; N:4.200000;"
                        )
                        lines.append(
                            f"rater{index:03d}; Neutral; Other-Bored; A:3.000000; V:3.000000; D:3.000000; N:4.000000;"
                        )
                        lines.append(f"rater{index + 1:03d}; Happy; ; A:3.500000; V:NaN; D:3.000000; N:4.000000;")
                        lines.append("")
                        relative = Path(f"session{session}") / sentence / scenario
                        if utterance != MSP_NO_WAV:
                            write_wav(root / "Audio" / relative / f"{utterance}.wav", seconds=0.2)
                        video = root / "Video" / relative / f"{utterance}.avi"
                        video.parent.mkdir(parents=True, exist_ok=True)
                        video.write_bytes(b"RIFF....AVI placeholder")
                        if utterance != MSP_NO_TRANSCRIPT:
                            transcript = root / "All_human_transcriptions" / f"{utterance}.txt"
                            transcript.parent.mkdir(parents=True, exist_ok=True)
                            transcript.write_text(f"words of {utterance}\n")
    (root / "Evaluation.txt").write_text("\n".join(lines) + "\n")
    kept = {"A", "H", "S", "N"}
    return {
        "labels": labels,
        "per_session": per_session,
        "total": sum(v for k, v in labels.items() if k in kept),
        "per_session_kept": {s: sum(v for k, v in c.items() if k in kept) for s, c in per_session.items()},
    }


# --------------------------------------------------------------------------------------------- conversations

CONVERSATION_ROWS = [
    # dialogue_id, utterance_id, speaker, text, label, split, audio
    ("d1", 0, "ann", "Hello, how are you?", "neutral", "train", "audio/d1_0.wav"),
    ("d1", 2, "bob", "Great, thanks!", "joy", "train", ""),
    ("d1", 1, "ann", "Really?", "surprise", "train", "audio/missing.wav"),
    ("d2", 0, "cat", "I hate this.", "anger", "train", ""),
    ("d3", 0, "dan", "Fine.", "neutral", "dev", ""),
    ("d3", 1, "eve", "", "neutral", "dev", ""),
    ("d4", 0, "fay", "Wow!", "joy", "test", ""),
    ("d4", 1, "gus", "unsure", "", "test", ""),
]


def make_conversations_tree(root: Path, fmt: str = "csv", rows=None) -> Path:
    """One `corpus.csv` or `corpus.jsonl` (plus `audio/d1_0.wav`) in `root`; returns the file."""
    root.mkdir(parents=True, exist_ok=True)
    write_wav(root / "audio" / "d1_0.wav", seconds=0.2)
    rows = CONVERSATION_ROWS if rows is None else rows
    columns = ["dialogue_id", "utterance_id", "speaker", "text", "label", "split", "audio"]
    if fmt == "csv":
        path = root / "corpus.csv"
        with open(path, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(columns)
            writer.writerows(rows)
    else:
        path = root / "corpus.jsonl"
        with open(path, "w", encoding="utf-8") as stream:
            for row in rows:
                stream.write(json.dumps(dict(zip(columns, row, strict=True))) + "\n")
    return path


# ------------------------------------------------------------------------------------------------- encoders


class MiniLMEncoder:
    """all-MiniLM-L6-v2 with masked-mean pooling + L2 (the sentence-transformers recipe), for tests.

    Used only when `modeling_emoje.text_encoding_emoje.TextFeatureEncoder` is not importable.
    """

    def __init__(self, path: str):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.name_or_path = path
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.dim = self.model.config.hidden_size
        self._torch = torch

    def __call__(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=128, return_tensors="pt")
        with torch.no_grad():
            hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1).numpy().astype(np.float32)


def text_encoder_for(path: str):
    """The package's `TextFeatureEncoder` if it exists yet, else [`MiniLMEncoder`]."""
    try:
        from modeling_emoje.text_encoding_emoje import TextFeatureEncoder
    except ImportError:
        return MiniLMEncoder(path)
    return TextFeatureEncoder(path)


class HashEncoder:
    """A fast deterministic stand-in text encoder: a unit vector seeded by the text's hash."""

    def __init__(self, dim: int = 8, name_or_path: str = "hash-encoder"):
        self.dim, self.name_or_path = dim, name_or_path

    def __call__(self, texts: list[str]) -> np.ndarray:
        import hashlib

        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha1(text.encode()).digest()[:4], "little")
            vector = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            rows.append(vector / np.linalg.norm(vector))
        return np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)


class SimulatedCrash(RuntimeError):
    """Raised by [`CountingEncoder`] to simulate an interrupted extraction."""


class CountingEncoder:
    """Wraps an encoder; counts calls and texts; can raise after `fail_after` calls (a simulated crash)."""

    def __init__(self, inner, fail_after: int | None = None):
        self.inner, self.fail_after = inner, fail_after
        self.calls = self.texts = 0
        self.name_or_path = getattr(inner, "name_or_path", type(inner).__name__)
        self.dim = inner.dim

    def __call__(self, texts):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise SimulatedCrash(f"simulated crash after {self.calls} encoder calls")
        self.calls += 1
        self.texts += len(texts)
        return self.inner(texts)


# -------------------------------------------------------------------------------- what the READMEs' commands read


def write_face_clip(path: Path, source: Path, seconds: float = 0.6) -> Path:
    """The first ``seconds`` of a real video ``source`` (a face in view, an audio track), remuxed without re-encoding:
    a clip on which FaceMesh and Pose find a person, unlike `write_clip`'s flat colours."""
    import av

    key = f"face:{source}:{seconds}"
    if key not in _CLIP_CACHE:
        buffer = io.BytesIO()
        with av.open(str(source)) as given, av.open(buffer, "w", format="mp4") as container:
            kept = [stream for stream in given.streams if stream.type in ("video", "audio")]
            streams = {stream.index: container.add_stream_from_template(stream) for stream in kept}
            for packet in given.demux(list(given.streams)):
                if packet.stream.index not in streams or packet.dts is None or packet.pts is None:
                    continue  # another stream, or the demuxer's final empty packet
                if packet.pts * packet.time_base < seconds:
                    packet.stream = streams[packet.stream.index]
                    container.mux(packet)
        _CLIP_CACHE[key] = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_CLIP_CACHE[key])
    return path


def make_meld_face_tree(root: Path, face_video: Path) -> dict:
    """`make_meld_tree` with clips in which a face and a body are found (the first 0.6 s of ``face_video``), so that
    all four modalities are extracted; the missing, corrupt and empty clips stay as they are."""
    expected = make_meld_tree(root, clips=True)
    for split, dialogues in MELD_DIALOGUES.items():
        for dialogue, turns in dialogues.items():
            for utterance, *_ in turns:
                if (split, dialogue, utterance) not in (MELD_MISSING, MELD_CORRUPT, MELD_EMPTY):
                    write_face_clip(root / MELD_CLIP_DIR[split] / f"dia{dialogue}_utt{utterance}.mp4", face_video)
    return expected


def write_feature_table(path: Path) -> Path:
    """A table of pre-extracted features (``emoje-prepare features --table``): the default column names, a ``split``
    column and one MFCC-like vector (4 dims) per utterance in ``audio_mfcc``; 3 / 1 / 1 two-utterance dialogues."""
    import pandas as pd

    rows = [
        {"dialogue_id": f"d{number}", "utterance_id": utterance, "speaker": "AB"[utterance], "label": label,
         "split": split, "audio_mfcc": [float(number), float(utterance), 0.5, -1.0 - number]}
        for number, split in enumerate(["train", "train", "train", "validation", "test"])
        for utterance, label in enumerate(["happy", "sad"])
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
    return path


# The conversations of `write_conversations_jsonl`: every turn has text (a text-only model can read each one), some
# also audio; the second is a bare list of turns (its id is then line-2).
PREDICTION_CONVERSATIONS = [
    {"id": "call-7", "turns": [
        {"speaker": "Ann", "text": "Hello? I am so happy to see you!"},
        {"speaker": "Ben", "text": "Oh no. I lost my keys again, I hate this.", "audio": "call.wav"},
    ]},
    [{"speaker": "Ann", "text": "Fine.", "audio": "call.wav"}, {"speaker": "Ben", "text": "Really?"}],
]


def write_conversations_jsonl(path: Path) -> Path:
    """`emoje-predict --input` as a JSONL file of `PREDICTION_CONVERSATIONS`, with the ``call.wav`` they name beside
    it (media paths are relative to the working folder)."""
    write_wav(path.parent / "call.wav", seconds=1.0)
    path.write_text("".join(json.dumps(conversation) + "\n" for conversation in PREDICTION_CONVERSATIONS))
    return path


CALL_STM = """;; a support call: NAME CHANNEL SPEAKER START END <LABELS> TRANSCRIPT
support 1 agent 0.00 0.70 <o,f0,male> Hello, how can I help you?
support 1 caller 0.80 1.50 <o,f0,female> My order never came and I am really upset.
support 1 agent 1.55 1.95 <o,f0,male> I am so sorry.
"""


def write_call_folder(folder: Path) -> Path:
    """`emoje-predict --input FOLDER`: one conversation ``support`` = ``support.stm`` (3 timed turns) over a 2 s
    ``support.wav``."""
    write_wav(folder / "support.wav", seconds=2.0)
    (folder / "support.stm").write_text(CALL_STM)
    return folder
