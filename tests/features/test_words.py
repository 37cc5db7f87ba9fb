"""Column names in words and numbers as a person quotes them (reason text)."""

from __future__ import annotations

import pytest

from leadml.features.words import format_number, humanise, short_money


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("TotalVisits", "Total visits"),
        ("LeadSourceURL", "Lead source URL"),
        ("URLCount", "URL count"),
        ("Page.Views.Per.Visit", "Page views per visit"),
        ("nr.employed", "Nr employed"),
        ("emp.var.rate", "Emp var rate"),
        ("do_not_email", "Do not email"),
        ("kebab-case-name", "Kebab case name"),
        ("Time On Site", "Time on site"),
        ("TOTAL_VISITS", "Total visits"),
        ("Q4Revenue", "Q4 revenue"),
        ("leadScore", "Lead score"),
        ("  Page Views  ", "Page views"),
        ("Lead Grade A", "Lead grade A"),
    ],
)
def test_names_split_into_words_keeping_acronyms(name: str, words: str) -> None:
    assert humanise(name) == words


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (45.05554866, None, "45.1"),
        (12.0, None, "12"),
        (12, None, "12"),
        (1200.0, None, "1,200"),
        (1234.56, None, "1,235"),
        (2_500_000.4, None, "2,500,000"),
        (0.012345, None, "0.0123"),
        (3.14159, None, "3.14"),
        (2.5, None, "2.5"),
        (99.96, None, "100"),
        (-3.14159, None, "-3.14"),
        (-0.0, None, "0"),
        (12, "min", "12 min"),
        (45.05554866, "min", "45.1 min"),
        (1200, "€", "€1,200"),
        (-5, "$", "-$5"),
        (12.5, "%", "12.5%"),
    ],
)
def test_numbers_round_to_about_three_figures_with_their_unit(
    value: float, unit: str | None, text: str
) -> None:
    assert format_number(value, unit) == text


@pytest.mark.parametrize(
    ("amount", "text"),
    [(950.0, "950"), (2_000.0, "2K"), (1_150_000.0, "1.1M"), (12_300_000.0, "12.3M"),
     (3e9, "3B")],
)  # fmt: skip
def test_money_reads_short(amount: float, text: str) -> None:
    assert short_money(amount) == text
