from __future__ import annotations

import numpy as np
import pytest

from leadml.features.kernels import NAT, band_codes, counted

EDGES = np.array([10.0, 50.0, 200.0])
VALUES = np.array([0.0, 10.0, 10.5, 50.0, 1e9, np.inf, -1.0, -0.0, np.nan])


@pytest.mark.parametrize(
    ("upper_inclusive", "expected"),
    [(True, [0, 0, 1, 1, 3, 3, 4, 0, 4]), (False, [0, 1, 1, 2, 3, 3, 4, 0, 4])],
)
def test_band_codes(upper_inclusive: bool, expected: list[int]) -> None:
    # Same bands as numpy's searchsorted (side left / right); missing and negative last.
    assert band_codes(VALUES, EDGES, upper_inclusive).tolist() == expected
    side = "left" if upper_inclusive else "right"
    valid = VALUES >= 0
    np.testing.assert_array_equal(
        band_codes(VALUES, EDGES, upper_inclusive)[valid],
        np.searchsorted(EDGES, VALUES[valid], side=side),
    )


def test_counted_keeps_known_events_strictly_before_the_cutoff() -> None:
    cutoff = np.array([100, NAT], dtype=np.int64)
    pos = np.array([0, 0, 0, -1, 0, 1, 0], dtype=np.int32)
    code = np.array([3, 4, 5, 3, -1, 3, 2], dtype=np.int8)
    occurred = np.array([99, 100, 101, 50, 50, 50, NAT], dtype=np.int64)
    kept_pos, kept_code, age = counted(pos, code, occurred, cutoff)
    assert kept_pos.tolist() == [0] and kept_code.tolist() == [3] and age.tolist() == [1]
