"""Warning lines that know what they count, so the warnings of several parts merge exactly.

A batch is scored in parts (chunks of leads locally, partitions on the Dask engine), and
each part words its own warnings. Merging them (`merge_warnings`) must not guess from the
text: a line is tagged where it is made.

- `LeadCount`: a line counting leads (or events) of its part ("1,204 leads are older
  than ..."); every lead is in one part, so the counts add up.
- `Unseen`: a category value the model was not trained on, with how many leads carry it
  (`unseen_lines` words them: the commonest few, then "N more ..."); merged per column
  from the union of values, as if the whole batch were one part.
- Any other line is kept verbatim, once.

Both tags are `str`, so every reader of warnings (the terminal, the store, the API) sees
plain lines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

LISTED_UNSEEN: Final = 5
"""Unseen values named one per line (the commonest); the rest are counted in one line."""


class LeadCount(str):
    """A warning line counting leads or events (`n`): `template` with `{n}` for the count."""

    template: str
    n: int

    def __new__(cls, template: str, count: int) -> LeadCount:
        line = super().__new__(cls, template.format(n=f"{count:,}"))
        line.template, line.n = template, count
        return line

    def __reduce__(self) -> tuple[type[LeadCount], tuple[str, int]]:
        return LeadCount, (self.template, self.n)


class Unseen(str):
    """A line about values of column `column` the model was not trained on, with each
    value's count of leads (one value, or the rest that "N more ..." counts)."""

    column: str
    values: tuple[tuple[str, int], ...]

    def __new__(cls, text: str, column: str, values: Iterable[tuple[str, int]]) -> Unseen:
        line = super().__new__(cls, text)
        line.column, line.values = column, tuple(values)
        return line

    def __reduce__(self) -> tuple[type[Unseen], tuple[str, str, tuple[tuple[str, int], ...]]]:
        return Unseen, (str(self), self.column, self.values)


def unseen_lines(column: str, counts: Mapping[str, int]) -> list[str]:
    """One line per value of `column` (value -> leads) not among the model's levels: the
    commonest few (ties by value), then one line counting the rest."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    out: list[str] = []
    for value, count in ranked[:LISTED_UNSEEN]:
        leads = f" ({count} leads)" if count > 1 else ""
        text = (
            f"{column} {value!r} is not in the data the model was trained on{leads}: "
            "scored as unknown, like a missing value"
        )
        out.append(Unseen(text, column, [(value, count)]))
    rest = ranked[LISTED_UNSEEN:]
    if rest:
        text = (
            f"{len(rest)} more {column} values not in the data the model was trained on: "
            "scored as unknown"
        )
        out.append(Unseen(text, column, rest))
    return out


def merge_warnings(lists: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """Warnings of several parts (chunks, partitions) as one list, in first-seen order:
    `LeadCount` lines of one kind with their counts added, `Unseen` lines of one column
    reworded from the union of their values, any other line once."""
    order: dict[tuple[str, str], None] = {}
    counts: dict[str, int] = {}
    unseen: dict[str, Counter[str]] = {}
    for warnings in lists:
        for line in warnings:
            if isinstance(line, LeadCount):
                order.setdefault(("count", line.template))
                counts[line.template] = counts.get(line.template, 0) + line.n
            elif isinstance(line, Unseen):
                order.setdefault(("unseen", line.column))
                unseen.setdefault(line.column, Counter()).update(dict(line.values))
            else:
                order.setdefault(("line", str(line)))
    merged: list[str] = []
    for kind, key in order:
        if kind == "count":
            merged.append(LeadCount(key, counts[key]))
        elif kind == "unseen":
            merged += unseen_lines(key, unseen[key])
        else:
            merged.append(key)
    return tuple(merged)
