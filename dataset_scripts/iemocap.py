"""IEMOCAP (Busso et al., 2008) from its official `IEMOCAP_full_release` layout.

Layout read (DATA.md), with DATA_DIR either `IEMOCAP_full_release/` or its parent:

    Session{1..5}/dialog/EmoEvaluation/<dialog>.txt     "[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]"
    Session{1..5}/dialog/transcriptions/<dialog>.txt    "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me."
    Session{1..5}/dialog/avi/DivX/<dialog>.avi          the dialogue's video (video_start/video_end cut the utterance)
    Session{1..5}/sentences/wav/<dialog>/<utt>.wav      the utterance's audio

- Only EmoEvaluation lines starting with `[` carry the consensus label; the header (`%`), rater lines (`C-E1:`,
  `A-F2:` ...) and blank lines are ignored; a `[` line that does not parse raises a ValueError naming file and
  line. `xxx` (no agreement) is skipped and counted; labels outside the protocol (sur, fea, dis, oth, and exc
  under mer4 is merged, not dropped) are counted by the protocol. macOS `._*` files and sub-folders
  (Categorical/, Attribute/, Self-evaluation/) are skipped.
- Transcription lines that are not `<id> [start-end]: text` (e.g. `M: [BREATHING]`) are skipped and counted;
  noise turns such as `..._MXX0` never carry a label and are unused. Transcripts keep IEMOCAP's markers
  (`[LAUGHTER]`, `[BREATHING]`) as written.
- Speaker = session + the gender letter of the utterance id's last field: `Ses01F_impro01_M003` -> `Ses01_M`
  (10 speakers). Dialogue id = the dialog name (`Ses01F_impro01`). Utterances are ordered by start time.

Protocols (`CORPUS`):

| protocol | labels | splits | folds |
|---|---|---|---|
| `erc6` (default) | hap sad neu ang exc fru | Sessions 1-4 train (10 % of their dialogues -> validation), Session 5 test | - |
| `mer4` | neutral happy(+exc) angry sad | test = Session K; validation = 10 % of the other sessions' dialogues | 5 |
| `mer4-speaker` | as mer4 | test = speaker K; validation = the other speaker of that session; train = other sessions | 10 |
"""

from __future__ import annotations

import re
from pathlib import Path

from .corpora import Corpus, register_corpus
from .corpus_builder import CorpusBuilder
from .protocols import (
    SESSION_SEPARATION,
    SPEAKER_SEPARATION,
    Protocol,
    identity_map,
    split_held_out_sessions,
    split_session_fold,
    split_speaker_fold,
)
from .schema import UtteranceRecord

IEMOCAP_LABELS = ("neu", "hap", "sad", "ang", "exc", "fru", "sur", "fea", "dis", "oth", "xxx")
IEMOCAP_SESSIONS = tuple(f"Session{k}" for k in range(1, 6))
# Label sets of the protocols (order = class index) and how mer4 maps the raw labels (exc merged into happy).
ERC6_LABELS: tuple[str, ...] = ("hap", "sad", "neu", "ang", "exc", "fru")
MER4_LABELS: tuple[str, ...] = ("neutral", "happy", "angry", "sad")
MER4_MAP: dict[str, str] = {"neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad"}

_CONSENSUS = re.compile(
    r"^\[\s*(?P<start>\d+(?:\.\d*)?)\s*-\s*(?P<end>\d+(?:\.\d*)?)\s*\]\s+(?P<id>\S+)\s+(?P<label>\S+)\s+\[(?P<vad>[^\]]*)\]\s*$"
)
_UTTERANCE_ID = re.compile(r"^(?P<dialog>(?P<session>Ses0[1-5])[FM]_\S+)_(?P<gender>[FM])(?P<turn>\d{3})$")
_TRANSCRIPT = re.compile(r"^(?P<id>\S+)\s+\[(?P<start>\d+(?:\.\d*)?)-(?P<end>\d+(?:\.\d*)?)\]:\s?(?P<text>.*)$")


def _text_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".txt" and not p.name.startswith("."))


def _read_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.splitlines()


class IemocapBuilder(CorpusBuilder):
    """Build IEMOCAP with a named protocol (`erc6`, `mer4` folds 1-5, `mer4-speaker` folds 1-10).

    Example:
        >>> dataset = IemocapBuilder("IEMOCAP_full_release", protocol="mer4", fold=5).build()  # doctest: +SKIP
        >>> dataset["test"].unique("speaker")  # doctest: +SKIP
        ['Ses05_F', 'Ses05_M']
    """

    corpus = "iemocap"

    def _root(self) -> Path:
        nested = self.data_dir / "IEMOCAP_full_release"
        return nested if nested.is_dir() else self.data_dir

    def read_records(self) -> list[UtteranceRecord]:
        root = self._root()
        missing = [name for name in IEMOCAP_SESSIONS if not (root / name).is_dir()]
        if missing:
            raise FileNotFoundError(f"IEMOCAP: {root} lacks {missing} (expected the IEMOCAP_full_release layout)")
        records: list[UtteranceRecord] = []
        seen: dict[str, str] = {}
        self._untranscribed: list[str] = []
        for number, name in enumerate(IEMOCAP_SESSIONS, start=1):
            session_dir = root / name
            evaluations = _text_files(session_dir / "dialog" / "EmoEvaluation")
            if not evaluations:
                raise FileNotFoundError(f"IEMOCAP: no EmoEvaluation/*.txt under {session_dir / 'dialog'}")
            for evaluation in evaluations:
                for record in self._read_dialog(session_dir, number, evaluation):
                    if record.source_id in seen:
                        raise ValueError(
                            f"{record.origin}: utterance {record.source_id} already labeled at {seen[record.source_id]}"
                        )
                    seen[record.source_id] = record.origin
                    records.append(record)
        if self._untranscribed:
            shown = ", ".join(self._untranscribed[:5])
            self.summary.notes.append(
                f"{len(self._untranscribed)} labeled utterance(s) have no transcript (kept, text absent): {shown}"
            )
        return records

    def _read_transcripts(self, path: Path) -> dict[str, str]:
        texts: dict[str, str] = {}
        if not path.is_file():
            self.summary.notes.append(f"no transcription file {path.name}")
            return texts
        for number, line in enumerate(_read_lines(path), start=1):
            line = line.strip()
            if not line:
                continue
            match = _TRANSCRIPT.match(line)
            if match is None:
                self.summary.skip("transcription line that is not an utterance", f"{path}:{number}")
                continue
            texts[match["id"]] = match["text"].strip()
        return texts

    def _read_dialog(self, session_dir: Path, session_number: int, evaluation: Path) -> list[UtteranceRecord]:
        dialog = evaluation.stem
        session = f"Ses{session_number:02d}"
        texts = self._read_transcripts(session_dir / "dialog" / "transcriptions" / evaluation.name)
        video = session_dir / "dialog" / "avi" / "DivX" / f"{dialog}.avi"
        video_path = str(video) if video.exists() else ""
        if not video_path:
            self.summary.missing_media.append(str(video.relative_to(session_dir.parent)))
        wav_dir = session_dir / "sentences" / "wav" / dialog
        records = []
        for number, line in enumerate(_read_lines(evaluation), start=1):
            if not line.startswith("["):
                continue
            where = f"{evaluation}:{number}"
            match = _CONSENSUS.match(line.rstrip())
            if match is None:
                raise ValueError(
                    f"{where}: malformed EmoEvaluation line {line.strip()!r} (expected '[start - end]<TAB>id<TAB>label<TAB>[v, a, d]')"
                )
            utterance_id, label = match["id"], match["label"]
            id_match = _UTTERANCE_ID.match(utterance_id)
            if id_match is None or id_match["dialog"] != dialog or id_match["session"] != session:
                raise ValueError(
                    f"{where}: utterance id {utterance_id!r} does not belong to dialog {dialog} of {session_dir.name}"
                )
            if label not in IEMOCAP_LABELS:
                raise ValueError(f"{where}: unknown IEMOCAP label {label!r}; expected one of {IEMOCAP_LABELS}")
            start, end = float(match["start"]), float(match["end"])
            if end < start:
                raise ValueError(f"{where}: segment ends ({end}) before it starts ({start})")
            if label == "xxx":
                self.summary.skip("unlabeled (xxx)", where)
                continue
            text = texts.get(utterance_id)
            if text is None:
                self._untranscribed.append(utterance_id)
                text = ""
            wav = wav_dir / f"{utterance_id}.wav"
            if not wav.exists():
                self.summary.missing_media.append(str(wav.relative_to(session_dir.parent)))
            records.append(
                UtteranceRecord(
                    source_id=utterance_id,
                    dialogue_id=dialog,
                    speaker=f"{session}_{id_match['gender']}",
                    text=text,
                    label=label,
                    session=session,
                    audio_path=str(wav) if wav.exists() else "",
                    video_path=video_path,
                    video_start=start if video_path else None,
                    video_end=end if video_path else None,
                    order=(start, end),
                    dialogue_order=(session_number,),
                    origin=where,
                )
            )
        return records


def build_iemocap(data_dir, protocol: str | None = None, fold: int | None = None, **kwargs):
    """Build IEMOCAP (see [`IemocapBuilder`]); returns a `DatasetDict` whose metadata holds the build summary."""
    return IemocapBuilder(data_dir, protocol, fold, **kwargs).build()


CORPUS = register_corpus(
    Corpus(
        name="iemocap",
        display_name="IEMOCAP",
        protocols=(
            Protocol(
                "iemocap",
                "erc6",
                ERC6_LABELS,
                identity_map(ERC6_LABELS),
                0,
                split_held_out_sessions(["Ses05"]),
                SESSION_SEPARATION,
                description="IEMOCAP ERC: 6 classes, Sessions 1-4 train/validation (dialogue draw), Session 5 test",
            ),
            Protocol(
                "iemocap",
                "mer4",
                MER4_LABELS,
                MER4_MAP,
                5,
                split_session_fold,
                SESSION_SEPARATION,
                description="IEMOCAP 4 classes (exc merged into happy), leave-one-session-out",
                extra={"three_mode": True},
            ),
            Protocol(
                "iemocap",
                "mer4-speaker",
                MER4_LABELS,
                MER4_MAP,
                10,
                split_speaker_fold,
                SPEAKER_SEPARATION,
                description="IEMOCAP 4 classes, leave-one-speaker-out (validation: the other speaker of the test "
                "session)",
                extra={"three_mode": True},
            ),
        ),
        default_protocol="erc6",
        description="Interactive Emotional Dyadic Motion Capture: five sessions of dyadic acted conversations "
        "(audio, video, motion capture, transcripts) with categorical emotion labels",
        citation_bibtex=(
            "@article{busso2008iemocap,\n  title = {{IEMOCAP}: Interactive emotional dyadic motion capture "
            "database},\n  author = {Busso, Carlos and Bulut, Murtaza and Lee, Chi-Chun and Kazemzadeh, Abe and "
            "Mower, Emily and Kim, Samuel and Chang, Jeannette N. and Lee, Sungbok and Narayanan, Shrikanth S.},\n  "
            "journal = {Language Resources and Evaluation},\n  volume = {42},\n  pages = {335--359},\n  year = "
            "{2008}\n}"
        ),
        terms="IEMOCAP is released by USC SAIL to each user under a license agreement; check that it allows "
        "publishing weights trained on it before you push this folder.",
        build=build_iemocap,
    )
)

__all__ = ["CORPUS", "ERC6_LABELS", "IEMOCAP_LABELS", "MER4_LABELS", "MER4_MAP", "IemocapBuilder", "build_iemocap"]
