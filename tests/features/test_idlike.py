"""Id-like feature columns: found at training, set aside with a warning, never a reason."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from leadml.data.mapping.config import DatasetConfig, FlatColumn
from leadml.errors import InputError
from leadml.features.idlike import id_like_evidence, id_like_warning, set_aside_id_like

N = 1000
RNG = np.random.default_rng(0)
HASHES = np.array([hashlib.sha1(str(i).encode()).hexdigest()[:12] for i in range(N)], object)


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (HASHES, "categorical"),
        (np.arange(579_533, 579_533 + 9 * N, 9, dtype=np.float64), "numeric"),  # record no.
        (RNG.permutation(N).astype(np.float64), "numeric"),  # a shuffled row number
        (np.array([f"note {i}" if i % 3 else None for i in range(N)], object), "categorical"),
    ],
)
def test_per_row_identifiers_are_id_like(values: np.ndarray, kind: str) -> None:
    assert id_like_evidence(values, kind) is not None


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (RNG.choice(["Google", "Referral", "Organic"], N).astype(object), "categorical"),
        (RNG.poisson(4, N).astype(np.float64), "numeric"),  # visits repeat
        (RNG.gamma(2.0, 60.0, N), "numeric"),  # time on site: not whole numbers
        (RNG.integers(1_000, 10_000_000, N).astype(np.float64), "numeric"),  # revenue: sparse
        (HASHES[:150], "categorical"),  # too few rows to tell
        (np.full(N, np.nan), "numeric"),
    ],
)
def test_measures_and_categories_are_not_id_like(values: np.ndarray, kind: str) -> None:
    assert id_like_evidence(values, kind) is None


def _dataset(**columns: FlatColumn) -> DatasetConfig:
    return DatasetConfig(label="Converted", columns=columns)


def test_id_like_columns_are_set_aside_as_ignored_with_their_evidence() -> None:
    dataset = _dataset(
        LeadHash=FlatColumn(role="source", type="categorical", label="Hash"),
        Origin=FlatColumn(role="source", type="categorical"),
        Visits=FlatColumn(role="engagement", type="numeric"),
    )
    raw = {
        "LeadHash": HASHES,
        "Origin": RNG.choice(["API", "Form"], N).astype(object),
        "Visits": RNG.poisson(3, N).astype(np.float64),
    }
    out, found = set_aside_id_like(raw, dataset)
    assert list(found) == ["LeadHash"]
    assert out.columns["LeadHash"].role == "ignore"
    assert out.columns["LeadHash"].label == "Hash"  # the rest of the column is kept
    assert out.feature_names == ["Origin", "Visits"]
    assert out.source_column == "Origin"  # the ranked list's lead_source is not the hash
    warning = id_like_warning("LeadHash", found["LeadHash"])
    assert "'LeadHash'" in warning and 'role = "ignore"' in warning and "\n" not in warning


def test_a_mapping_without_id_like_columns_is_returned_unchanged() -> None:
    dataset = _dataset(Visits=FlatColumn(role="engagement", type="numeric"))
    out, found = set_aside_id_like({"Visits": RNG.poisson(3, N).astype(float)}, dataset)
    assert out is dataset and found == {}


def test_only_id_like_features_is_a_named_error() -> None:
    dataset = _dataset(LeadHash=FlatColumn(role="source", type="categorical"))
    with pytest.raises(InputError, match="LeadHash"):
        set_aside_id_like({"LeadHash": HASHES}, dataset)
