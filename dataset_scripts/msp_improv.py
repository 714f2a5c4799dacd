"""MSP-IMPROV (Busso et al., 2017) from its distributed layout.

Layout read (DATA.md):

    DATA_DIR/Evaluation.txt
    DATA_DIR/Audio/session{k}/S{sentence}{target}/{P,R,S,T}/<utt>.wav
    DATA_DIR/Video/session{k}/S{sentence}{target}/{P,R,S,T}/<utt>.avi
    DATA_DIR/All_human_transcriptions/<utt>.txt          (from Human_Transcriptions.zip)

Utterance ids: `MSP-IMPROV-S{sentence}{target}-{gender}{session}-{scenario}-{turn field}`.

- `Evaluation.txt` master lines start with `UTD-` and are keyed by the video name, e.g.
  `UTD-IMPROV-S01A-F01-P-FM01.avi; N; A:2.6; V:3.0; D:2.8 ; N:4.2;` -> id `MSP-IMPROV-S01A-F01-P-FM01`, label N.
  Spaces around `;` are free and dimension values may be `NaN`. Rater lines (anything else) are ignored. A master
  line that does not parse raises a ValueError naming file and line. Label `X` (no agreement) is skipped as
  unlabeled, `O` (other) is dropped by the 4-class protocols; both are counted.
- Speaker = the `{gender}{session}` field as `session{k}_{gender}` (12 speakers). Session = `session{k}`.
- MSP-IMPROV gives no turn timing, so a dialogue is approximated as (session, sentence+target, scenario):
  `session1_S01A_P`, turns ordered by the id's last field. Sessions never share a dialogue, so the
  leave-one-session-out folds are exact.
- A missing transcript gives `text = ""` (text absent); a missing media file gives `""` and a `missing_media` entry.

Protocols (`CORPUS`), labels angry happy sad neutral (`O`, `X` dropped): `loso` (default; test = session K,
validation = 10 % of the other sessions' dialogues; 6 folds) and `loso-speaker` (test = speaker K, validation = the
other speaker of that session; 12 folds).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from .corpora import Corpus, register_corpus
from .corpus_builder import CorpusBuilder
from .protocols import (
    SESSION_SEPARATION,
    SPEAKER_SEPARATION,
    Protocol,
    split_session_fold,
    split_speaker_fold,
)
from .schema import UtteranceRecord

MSP_LABELS = ("A", "H", "S", "N", "O", "X")
# The 4-class label set of the protocols (order = class index) and the raw labels it keeps.
LOSO_LABELS: tuple[str, ...] = ("angry", "happy", "sad", "neutral")
LOSO_MAP: dict[str, str] = {"A": "angry", "H": "happy", "S": "sad", "N": "neutral"}
_MSP_ID = re.compile(
    r"^MSP-IMPROV-(?P<sentence>S\d{2}[A-Z])-(?P<gender>[FM])(?P<session>\d{2})-(?P<scenario>[PRST])-(?P<turn>[A-Za-z0-9]+)$"
)
_DIMENSION = re.compile(r"^(?P<name>[AVDN])\s*:\s*(?P<value>[-+]?\d+(?:\.\d*)?|NaN|nan)$")


def parse_evaluation_line(line: str, where: str) -> tuple[str, str, dict[str, float]]:
    """Parse one `UTD-...` master line -> `(utterance id, label letter, {A,V,D,N: value})`.

    Example:
        >>> parse_evaluation_line("UTD-IMPROV-S01A-F01-P-FM01.avi; N; A:2.6; V:NaN; D:2.8 ; N:4.2;", "x:1")
        ('MSP-IMPROV-S01A-F01-P-FM01', 'N', {'A': 2.6, 'V': nan, 'D': 2.8, 'N': 4.2})
    """
    parts = [part.strip() for part in line.strip().split(";")]
    while parts and parts[-1] == "":
        parts.pop()
    if len(parts) < 2 or not parts[0].startswith("UTD-") or not parts[0].endswith(".avi"):
        raise ValueError(
            f"{where}: malformed Evaluation.txt master line {line.strip()!r} (expected 'UTD-....avi; L; A:..; ...')"
        )
    utterance_id = "MSP-" + parts[0][len("UTD-") : -len(".avi")]
    if _MSP_ID.match(utterance_id) is None:
        raise ValueError(f"{where}: {parts[0]!r} is not an MSP-IMPROV utterance name")
    label = parts[1]
    if label not in MSP_LABELS:
        raise ValueError(f"{where}: unknown MSP-IMPROV label {label!r}; expected one of {MSP_LABELS}")
    dimensions: dict[str, float] = {}
    for part in parts[2:]:
        match = _DIMENSION.match(part)
        if match is None:
            raise ValueError(f"{where}: malformed attribute {part!r} in Evaluation.txt master line")
        value = match["value"]
        dimensions[match["name"]] = math.nan if value.lower() == "nan" else float(value)
    return utterance_id, label, dimensions


def _turn_order(turn: str) -> tuple:
    digits = re.search(r"(\d+)$", turn)
    return (int(digits.group(1)) if digits else -1, turn)


class MspImprovBuilder(CorpusBuilder):
    """Build MSP-IMPROV with `loso` (6 session folds, default) or `loso-speaker` (12 speaker folds).

    Example:
        >>> dataset = MspImprovBuilder("MSP-IMPROV", fold=3).build()  # doctest: +SKIP
        >>> sorted(dataset["test"].unique("speaker"))  # doctest: +SKIP
        ['session3_F', 'session3_M']
    """

    corpus = "msp-improv"

    def read_records(self) -> list[UtteranceRecord]:
        evaluation = self.data_dir / "Evaluation.txt"
        if not evaluation.is_file():
            raise FileNotFoundError(f"MSP-IMPROV: {evaluation} not found (expected the distributed layout)")
        transcripts = self.data_dir / "All_human_transcriptions"
        audio_root, video_root = self.data_dir / "Audio", self.data_dir / "Video"
        for folder in (transcripts, audio_root, video_root):
            if not folder.is_dir():
                self.summary.notes.append(f"no {folder.name}/ folder: that modality is absent for every utterance")
        raw = evaluation.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        labels: dict[str, tuple[str, str]] = {}
        raters = 0
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped:
                continue
            if not stripped.startswith("UTD-"):
                raters += 1
                continue
            where = f"{evaluation}:{number}"
            utterance_id, label, _ = parse_evaluation_line(stripped, where)
            if utterance_id in labels:
                first_label, first_where = labels[utterance_id]
                if first_label != label:
                    raise ValueError(f"{where}: {utterance_id} labeled {label!r} but {first_label!r} at {first_where}")
                self.summary.skip("duplicate master line", where)
                continue
            labels[utterance_id] = (label, where)
        if raters:
            self.summary.notes.append(f"ignored {raters} rater line(s) of Evaluation.txt")
        missing_text = 0
        records = []
        for utterance_id, (label, where) in labels.items():
            if label == "X":
                self.summary.skip("unlabeled (X)", where)
                continue
            parts = _MSP_ID.match(utterance_id)
            session_number = int(parts["session"])
            session = f"session{session_number}"
            relative = Path(session) / parts["sentence"] / parts["scenario"]
            transcript = transcripts / f"{utterance_id}.txt"
            utterance_text = ""
            if transcript.is_file():
                raw_text = transcript.read_bytes()
                try:
                    utterance_text = " ".join(raw_text.decode("utf-8-sig").split())
                except UnicodeDecodeError:
                    utterance_text = " ".join(raw_text.decode("latin-1").split())
            else:
                missing_text += 1
            media = {}
            for kind, root, suffix in (("audio", audio_root, ".wav"), ("video", video_root, ".avi")):
                path = root / relative / f"{utterance_id}{suffix}"
                media[kind] = str(path) if path.exists() else ""
                if root.is_dir() and not path.exists():
                    self.summary.missing_media.append(str(path.relative_to(self.data_dir)))
            records.append(
                UtteranceRecord(
                    source_id=utterance_id,
                    dialogue_id=f"{session}_{parts['sentence']}_{parts['scenario']}",
                    speaker=f"{session}_{parts['gender']}",
                    text=utterance_text,
                    label=label,
                    session=session,
                    audio_path=media["audio"],
                    video_path=media["video"],
                    order=_turn_order(parts["turn"]),
                    dialogue_order=(session_number, parts["sentence"], parts["scenario"]),
                    origin=where,
                )
            )
        if missing_text and transcripts.is_dir():
            self.summary.notes.append(f"{missing_text} utterance(s) have no transcript (kept, text absent)")
        return records


def build_msp_improv(data_dir, protocol: str | None = None, fold: int | None = None, **kwargs):
    """Build MSP-IMPROV (see [`MspImprovBuilder`]); returns a `DatasetDict` whose metadata holds the summary."""
    return MspImprovBuilder(data_dir, protocol, fold, **kwargs).build()


CORPUS = register_corpus(
    Corpus(
        name="msp-improv",
        display_name="MSP-IMPROV",
        protocols=(
            Protocol(
                "msp-improv",
                "loso",
                LOSO_LABELS,
                LOSO_MAP,
                6,
                split_session_fold,
                SESSION_SEPARATION,
                description="MSP-IMPROV 4 classes (O, X dropped), leave-one-session-out",
                extra={"three_mode": True},
            ),
            Protocol(
                "msp-improv",
                "loso-speaker",
                LOSO_LABELS,
                LOSO_MAP,
                12,
                split_speaker_fold,
                SPEAKER_SEPARATION,
                description="MSP-IMPROV 4 classes, leave-one-speaker-out (validation: the other speaker of the test "
                "session)",
                extra={"three_mode": True},
            ),
        ),
        default_protocol="loso",
        description="MSP-IMPROV: six sessions of improvised dyadic scenarios around fixed target sentences (audio, "
        "video, transcripts) with categorical emotion labels",
        citation_bibtex=(
            "@article{busso2017mspimprov,\n  title = {{MSP-IMPROV}: An Acted Corpus of Dyadic Interactions to Study "
            "Emotion Perception},\n  author = {Busso, Carlos and Parthasarathy, Srinivas and Burmania, Alec and "
            "AbdelWahab, Mohammed and Sadoughi, Najmeh and Mower Provost, Emily},\n  journal = {IEEE Transactions on "
            "Affective Computing},\n  volume = {8},\n  number = {1},\n  pages = {67--80},\n  year = {2017}\n}"
        ),
        terms="MSP-IMPROV is released by the MSP lab (UT Dallas) to each user under an academic license agreement; "
        "check that it allows publishing weights trained on it before you push this folder.",
        build=build_msp_improv,
    )
)

__all__ = [
    "CORPUS",
    "LOSO_LABELS",
    "LOSO_MAP",
    "MSP_LABELS",
    "MspImprovBuilder",
    "build_msp_improv",
    "parse_evaluation_line",
]
