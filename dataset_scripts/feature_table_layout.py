"""How a feature table is laid out: its column names and the rule that splits its rows by the values of a column.

[`TableColumns`] names the columns one build reads; [`ColumnSplit`] sends rows to `train` / `validation` / `test`
by the value of one column (`--split-by actor --train 1-16 --validation 17-20 --test 21-24`), with values written
as comma-separated lists and inclusive integer ranges ([`parse_values`]). Array files are named by
`DEFAULT_FILE_PATTERN` unless a build gives another pattern. The builder is `feature_table.py`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass

from .protocols import natural_key
from .schema import SPLITS

DEFAULT_FILE_PATTERN = "{dialogue}_{utterance}"  # stem of per-utterance array files (`<stem>.npy` / `<stem>.npz`)
PATTERN_FIELDS = ("dialogue", "utterance")
MAX_PATTERN_WIDTH = 255  # a width or precision in a file pattern: longer than any file name
MAX_SPLIT_VALUES = 1_000_000  # values one split rule may list (ranges included)
_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")


def check_file_pattern(pattern: str, option: str = "file_pattern") -> str:
    """`pattern` if it names array files: both `{dialogue}` and `{utterance}` (plain fields: no `.attribute` or
    `[index]`), widths and precisions of at most `MAX_PATTERN_WIDTH`. Else a ValueError naming the pattern.

    Example:
        >>> check_file_pattern("{dialogue}/{utterance:>03}")
        '{dialogue}/{utterance:>03}'
        >>> check_file_pattern("d1_0")
        Traceback (most recent call last):
        ...
        ValueError: file_pattern 'd1_0' must contain both {dialogue} and {utterance}, else several utterances would read one file
    """
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as error:
        raise ValueError(f"{option} {pattern!r} is not a format pattern ({error})") from None
    used = set()
    for _, name, spec, _ in parts:
        if name is None:
            continue
        if name not in PATTERN_FIELDS:
            raise ValueError(
                f"{option} {pattern!r} may only use the fields {{dialogue}} and {{utterance}}, got {{{name}}}"
            )
        widths = [int(number) for number in re.findall(r"\d+", spec or "")]
        if "{" in (spec or "") or any(width > MAX_PATTERN_WIDTH for width in widths):
            raise ValueError(
                f"{option} {pattern!r}: the format {spec!r} of {{{name}}} is wider than {MAX_PATTERN_WIDTH} "
                "characters (a file name is not longer) or nested"
            )
        used.add(name)
    if used != set(PATTERN_FIELDS):
        raise ValueError(
            f"{option} {pattern!r} must contain both {{dialogue}} and {{utterance}}, else several utterances would "
            "read one file"
        )
    try:
        pattern.format(dialogue="d", utterance="u")
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as error:
        raise ValueError(f"{option} {pattern!r} cannot be filled with a dialogue and an utterance id ({error})") from None
    return pattern


@dataclass(frozen=True)
class TableColumns:
    """Names of the table's columns. `None` for `utterance` / `text` = use `utterance_id` / `text` when present.

    Example:
        >>> TableColumns(dialogue="clip", speaker="actor", label="emotion").dialogue
        'clip'
    """

    dialogue: str = "dialogue_id"
    utterance: str | None = None
    speaker: str = "speaker"
    label: str = "label"
    text: str | None = None
    split: str = "split"


def canonical_value(text: str) -> str:
    """How split-rule values compare: digit strings as numbers (`"07"` -> `"7"`), other text as is."""
    return str(int(text)) if text.isdigit() else text


def parse_values(spec: str | int | Iterable[str | int]) -> frozenset[str]:
    """Split-rule values: `"1-16,20,a"` -> {"1", ..., "16", "20", "a"} (integer ranges are inclusive).

    Example:
        >>> sorted(parse_values("1-3,x"), key=str)
        ['1', '2', '3', 'x']
    """
    if isinstance(spec, (str, int)):
        items = [part.strip() for part in str(spec).split(",")]
    else:
        items = [str(part).strip() for part in spec]
    values: set[str] = set()
    for item in items:
        if not item:
            continue
        match = _RANGE.match(item)
        if match:
            low, high = int(match[1]), int(match[2])
            if low > high:
                raise ValueError(f"empty range {item!r} (write low-high)")
            if high - low + 1 + len(values) > MAX_SPLIT_VALUES:
                raise ValueError(
                    f"range {item!r} holds {high - low + 1} values; a split rule lists at most {MAX_SPLIT_VALUES:,} "
                    "values (give the values the column holds)"
                )
            values.update(str(number) for number in range(low, high + 1))
        else:
            values.add(canonical_value(item))
    return frozenset(values)


@dataclass(frozen=True)
class ColumnSplit:
    """A named split rule: rows go to `train` / `validation` / `test` by the value of one column.

    Example (RAVDESS, split by actor):
        >>> rule = ColumnSplit.parse("actor", train="1-16", validation="17-20", test="21-24")
        >>> rule.split_of("17"), rule.split_of("3"), rule.split_of("25")
        ('validation', 'train', None)
    """

    column: str
    train: frozenset[str]
    validation: frozenset[str] = frozenset()
    test: frozenset[str] = frozenset()

    @classmethod
    def parse(
        cls,
        column: str,
        train: str | Iterable[str | int],
        validation: str | Iterable[str | int] = (),
        test: str | Iterable[str | int] = (),
    ) -> ColumnSplit:
        """Build a rule from value lists or specs like `"1-16,18"`; a value may belong to one split only."""
        rule = cls(column, parse_values(train), parse_values(validation), parse_values(test))
        if not rule.train:
            raise ValueError(f"split rule on {column!r}: the train split needs at least one value")
        for first, second in (("train", "validation"), ("train", "test"), ("validation", "test")):
            shared = getattr(rule, first) & getattr(rule, second)
            if shared:
                raise ValueError(
                    f"split rule on {column!r}: value(s) {sorted(shared, key=natural_key)} are in both {first} "
                    f"and {second}"
                )
        return rule

    def split_of(self, value: str) -> str | None:
        """The split of a row whose column holds `value` (`None` when no split lists it)."""
        value = canonical_value(value)
        for split in SPLITS:
            if value in getattr(self, split):
                return split
        return None

    def describe(self) -> str:
        parts = [f"{split} {_compact(getattr(self, split))}" for split in SPLITS if getattr(self, split)]
        return f"by {self.column}: " + ", ".join(parts)


def _compact(values: frozenset[str]) -> str:
    """`{"1", "2", "3", "7"}` -> `"1-3,7"` (for summaries)."""
    numbers = sorted(int(v) for v in values if v.isdigit())
    words = sorted((v for v in values if not v.isdigit()), key=natural_key)
    runs: list[str] = []
    for number in numbers:
        if runs and runs[-1][1] == number - 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    text = [f"{a}-{b}" if a != b else str(a) for a, b in runs]
    return ",".join(text + words)


__all__ = [
    "DEFAULT_FILE_PATTERN",
    "MAX_PATTERN_WIDTH",
    "MAX_SPLIT_VALUES",
    "PATTERN_FIELDS",
    "ColumnSplit",
    "TableColumns",
    "canonical_value",
    "check_file_pattern",
    "parse_values",
]
