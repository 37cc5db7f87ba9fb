"""Words for column names and numbers in reason text: the one humaniser, the one formatter.

A CRM export names its columns any way it likes ("TotalVisits", "Page.Views.Per.Visit",
"nr.employed", "LeadSourceURL"); `humanise` turns each into plain words with acronyms
kept. `format_number` rounds a value the way a person would quote it (about three
significant figures, thousands separators, integers as integers) and adds a unit.
"""

from __future__ import annotations

import math
import re
from typing import Final

_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
"""Word breaks inside a camelCase or PascalCase name ("TotalVisits", "URLCount")."""
_SEPARATORS: Final = re.compile(r"[\s._\-]+")
_NOT_WORD: Final = re.compile(r"[\W_]+")
"""Anything but letters and digits, of any script ("Größe", "Конвертирован" stay words)."""
PREFIX_UNITS: Final = frozenset("$€£¥₹")
"""Currency symbols written before the number ("€1,200")."""
ATTACHED_UNITS: Final = frozenset({"%", "‰", "x", "×"})
"""Units written right after the number with no space ("12%")."""
_MAX_DECIMALS: Final = 6


def name_tokens(name: str) -> list[str]:
    """A column name's lower-case words, split as `humanise` splits them ("DoNotEmail",
    "do_not email" -> do, not, email; "LeadSourceURL" -> lead, source, url): what the
    name hints of init-config and the leakage guard match against."""
    return [w.lower() for w in _NOT_WORD.split(_CAMEL.sub(" ", name)) if w]


def humanise(name: str) -> str:
    """A column name as words: "TotalVisits" -> "Total visits", "LeadSourceURL" -> "Lead
    source URL", "Page.Views.Per.Visit" -> "Page views per visit", "nr.employed" -> "Nr
    employed". Acronyms (two or more capitals, or capitals with digits) keep their case;
    a name written all in capitals ("TOTAL_VISITS") is read as ordinary words."""
    words = _SEPARATORS.split(_CAMEL.sub(" ", name.strip()))
    words = [w for w in words if w]
    if not words:
        return name
    shouting = not any(c.islower() for c in name)
    out = [w.lower() if shouting or not _acronym(w) else w for w in words]
    first = out[0]
    out[0] = first[:1].upper() + first[1:]
    return " ".join(out)


def _acronym(word: str) -> bool:
    """A word to keep as written: no lower-case letters, and either two or more capitals,
    a capital with digits ("Q4"), or a single capital letter ("Grade A")."""
    return not any(c.islower() for c in word) and any(c.isupper() for c in word)


def format_number(value: float, unit: str | None = None) -> str:
    """A number as a person would quote it, with its unit.

    Integers print as integers (12 -> "12", 1200.0 -> "1,200"); other values keep about
    three significant figures (45.05554866 -> "45.1", 0.012345 -> "0.0123", 1234.56
    -> "1,235"). A currency symbol goes first ("€1,200"), "%" sticks to the number ("12%"),
    any other unit follows after a space ("12 min").
    """
    value = float(value)
    if not math.isfinite(value):
        return "∞" if value > 0 else "-∞" if value < 0 else "not a number"
    text = _rounded(value)
    if not unit:
        return text
    unit = unit.strip()
    if unit in PREFIX_UNITS:
        return f"-{unit}{text[1:]}" if text.startswith("-") else f"{unit}{text}"
    if unit in ATTACHED_UNITS:
        return f"{text}{unit}"
    return f"{text} {unit}"


def _rounded(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    size = abs(value)
    if size >= 100:
        return f"{round(value):,}"
    decimals = min(max(0, 2 - math.floor(math.log10(size))), _MAX_DECIMALS)
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("0", "-0"):  # smaller than the decimals shown
        return f"{value:.2g}"
    return text


def short_money(amount: float) -> str:
    """An amount as a person quotes it: 1,200,000 -> '1.2M', 2,000 -> '2K'."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if amount >= size:
            return f"{amount / size:,.1f}{suffix}".replace(".0" + suffix, suffix)
    return f"{amount:,.0f}"
