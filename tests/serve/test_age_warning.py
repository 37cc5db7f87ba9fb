"""A lead older than any the served model was trained on is scored, with a warning."""

from __future__ import annotations

from leadml_serve.convert import _DAY_NS, _check_age


def test_an_older_lead_than_training_saw_is_warned_about() -> None:
    notes: list[str] = []
    _check_age(400 * _DAY_NS, 390, notes)
    assert notes == [
        "the lead is 400 days old, older than any lead the model was trained on "
        "(390 days): scored as a lead of that age"
    ]


def test_a_lead_within_the_trained_ages_or_a_one_cutoff_model_gets_no_warning() -> None:
    notes: list[str] = []
    _check_age(390 * _DAY_NS, 390, notes)
    _check_age(5000 * _DAY_NS, None, notes)  # a one-cutoff model records no age range
    assert notes == []


def test_a_lead_created_after_its_scoring_moment_is_still_warned_about() -> None:
    notes: list[str] = []
    _check_age(-1, 390, notes)
    assert notes == ["created_at is after as_of: the lead is scored with no history"]
