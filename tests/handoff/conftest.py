"""Fixtures for the webhook tests: a live local receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.handoff.receiver import Receiver, receiver


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as live:
        yield live
