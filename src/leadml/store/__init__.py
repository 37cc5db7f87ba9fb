"""The scores store: each lead's latest score and its history, in SQLite or PostgreSQL.

`leadml score` writes a batch with `write_batch` (one transaction; `write_batch_parts`
for the Dask engine's partitions); the API and the sales page read it with `ranked`,
`lead_detail` and `batch_summary`. Open the store
once with `open_store(url)` and share the engine.
"""

from leadml.store.query import (
    BatchInfo,
    batch_summary,
    current_batch,
    labels,
    lead_detail,
    ranked,
    ranked_table,
)
from leadml.store.tables import StoreError, open_store, store_url
from leadml.store.watch import StoreMissing, WatchedStore
from leadml.store.write import (
    TREND_POINTS,
    stored_previous_scores,
    write_batch,
    write_batch_parts,
)

__all__ = [
    "TREND_POINTS",
    "BatchInfo",
    "StoreError",
    "StoreMissing",
    "WatchedStore",
    "batch_summary",
    "current_batch",
    "lead_detail",
    "open_store",
    "ranked",
    "ranked_table",
    "labels",
    "store_url",
    "stored_previous_scores",
    "write_batch",
    "write_batch_parts",
]
