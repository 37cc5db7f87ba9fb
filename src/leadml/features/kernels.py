"""The feature loops compiled with numba: engagement per chunk of events and per lead,
the firmographic size bands, and the lead-id hash probe.

One loop serves one lead with a handful of events (the API) and tens of millions of
events (training): no pandas, no Python object per event, no temporary per lead, and
one call instead of a dozen numpy calls' fixed costs. The kernels are compiled on first
use and cached on disk (`cache=True`), so a new process loads them instead of compiling;
callers pass the dtypes documented below, so one compiled version serves every call.
They release the GIL, so chunks can be prepared in threads while another is scattered.

The engagement accumulators live in the output blocks themselves (see `Layout`), so a
call allocates little beyond its output: fresh memory is slow to touch on a busy machine.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import numba
import numpy as np

NAT: Final = np.iinfo(np.int64).min
NEVER: Final = float(np.iinfo(np.uint32).max)
"""Newest-age sentinel in whole seconds: no event of the type. Ages are capped one
below it (about 136 years)."""
_MICROS_PER_SECOND: Final = 10**6
_MICROS_PER_DAY: Final = 86_400 * _MICROS_PER_SECOND
_SECONDS_PER_DAY: Final = 86_400.0


class Layout(NamedTuple):
    """Rows of the float output block, which double as accumulators during the scatter.

    Rows 0..n_types-1 (the recencies) hold each type's newest age in whole seconds, the
    stage score rows their sums, and the rows after them (velocity, click-through rate,
    lead age) the spare stage row (types without a stage) and the two velocity counts.
    `finish` turns each lead's accumulators into its outputs in place. The kernels take
    it as an int64 array in this field order (`rows`).
    """

    latest: int  # days_since_last_event
    score: int  # engagement_score
    stages: int  # first stage score row; one per stage, then the spare row
    velocity: int  # engagement_velocity (the spare stage row while scattering)
    click_rate: int  # email_click_through_rate (recent events while scattering)
    lead_age: int  # days_since_created (earlier events while scattering)

    @classmethod
    def of(cls, n_types: int, n_stages: int) -> Layout:
        """The rows for engagement_columns' float columns: recencies, then the rest."""
        stages = n_types + 2
        velocity = stages + n_stages
        return cls(n_types, n_types + 1, stages, velocity, velocity + 1, velocity + 2)


@numba.njit(cache=True, nogil=True)
def counted(
    pos: np.ndarray, code: np.ndarray, occurred: np.ndarray, cutoff: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The events that count, compacted: known lead (pos >= 0, int32) and type (code >= 0,
    int8), known instant, strictly before the lead's cutoff (int64 microseconds, NaT =
    int64 min). Returns their lead positions, type codes and ages (microseconds, > 0)."""
    n = len(pos)
    out_pos = np.empty(n, dtype=np.int32)
    out_code = np.empty(n, dtype=np.int8)
    out_age = np.empty(n, dtype=np.int64)
    k = 0
    for i in range(n):
        p = pos[i]
        c = code[i]
        stamp = occurred[i]
        if p < 0 or c < 0 or stamp == NAT:
            continue
        cut = cutoff[p]
        if cut == NAT or cut <= stamp:
            continue
        out_pos[k] = p
        out_code[k] = c
        out_age[k] = cut - stamp
        k += 1
    return out_pos[:k], out_code[:k], out_age[:k]


@numba.njit(cache=True, nogil=True)
def scatter(
    pos: np.ndarray,
    code: np.ndarray,
    age: np.ndarray,
    weight: np.ndarray,
    edges: np.ndarray,
    stage_of: np.ndarray,
    velocity_edges: np.ndarray,
    rows: np.ndarray,
    counts: np.ndarray,
    floats: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Add counted events (from `counted`) to the accumulators, in event order.

    - counts[type, bucket, lead] (int32): bucket b holds ages in (edges[b-1], edges[b]]
      (edges sorted, int64 us), the last bucket everything older than the last edge.
    - floats[type, lead]: the smallest age in whole seconds (start at NEVER).
    - floats[Layout.stages + stage_of[type], lead]: the sum of the float32 decay weights.
    - floats[Layout.click_rate / Layout.lead_age, lead]: events with age <=
      velocity_edges[0], and older ones with age <= velocity_edges[1].
    """
    stages, recent, earlier = rows[2], rows[4], rows[5]
    for i in range(len(pos)):
        p = pos[i]
        c = code[i]
        a = age[i]
        bucket = 0
        for edge in edges:
            if a > edge:
                bucket += 1
        counts[c, bucket, p] += 1
        seconds = min(a // _MICROS_PER_SECOND, NEVER - 1)
        if seconds < floats[c, p]:
            floats[c, p] = seconds
        floats[stages + stage_of[c], p] += np.float64(weight[i])
        if a <= velocity_edges[0]:
            floats[recent, p] += 1.0
        elif a <= velocity_edges[1]:
            floats[earlier, p] += 1.0


@numba.njit(cache=True, nogil=True)
def finish(
    counts: np.ndarray,
    totals: np.ndarray,
    floats: np.ndarray,
    rows: np.ndarray,
    levels: np.ndarray,
    stage_weight: np.ndarray,
    weeks: float,
    opens_clicks: np.ndarray,
    cutoff: np.ndarray,
    created: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Turn each lead's accumulators into its outputs, in place.

    counts become nested window counts (a window's count is the previous one plus its
    bucket); totals[0..2] get total events, distinct types and the highest stage level
    (levels[type]); the newest ages become days (NaN when none); the engagement score is
    the stage scores weighted by stage_weight, summed in stage order from 0.0; velocity
    is (recent + 1) / (earlier / weeks + 1); the click-through rate is clicks / opens
    (types opens_clicks[0], [1]; NaN without an open); the lead age is in days (NaN
    without a cutoff or created_at).
    """
    n_types, n_buckets, n_leads = counts.shape
    latest_row, score_row, stages, velocity, click_rate, lead_age = rows
    for p in range(n_leads):
        total = 0
        distinct = 0
        stage = 0
        latest = NEVER
        for t in range(n_types):
            running = 0
            for b in range(n_buckets):
                running += counts[t, b, p]
                counts[t, b, p] = running
            if running > 0:
                total += running
                distinct += 1
                stage = max(stage, levels[t])
            seconds = floats[t, p]
            latest = min(latest, seconds)
            floats[t, p] = np.nan if seconds == NEVER else seconds / _SECONDS_PER_DAY
        totals[0, p] = total
        totals[1, p] = distinct
        totals[2, p] = stage
        floats[latest_row, p] = np.nan if latest == NEVER else latest / _SECONDS_PER_DAY
        score = 0.0
        for s in range(len(stage_weight)):
            score += stage_weight[s] * floats[stages + s, p]
        floats[score_row, p] = score
        recent = floats[click_rate, p]
        earlier = floats[lead_age, p]
        floats[velocity, p] = (recent + 1.0) / (earlier / weeks + 1.0)
        opens = counts[opens_clicks[0], n_buckets - 1, p]
        clicks = counts[opens_clicks[1], n_buckets - 1, p]
        floats[click_rate, p] = np.float64(clicks) / opens if opens > 0 else np.nan
        if cutoff[p] == NAT or created[p] == NAT:
            floats[lead_age, p] = np.nan
        else:
            floats[lead_age, p] = (cutoff[p] - created[p]) / _MICROS_PER_DAY


@numba.njit(cache=True, nogil=True)
def band_codes(
    values: np.ndarray, edges: np.ndarray, upper_inclusive: bool
) -> np.ndarray:  # pragma: no cover - compiled
    """The band of each value (float64) between sorted edges (float64), as intp codes:
    band b holds values above b edges (upper_inclusive: a value equal to an edge is in
    the band below it; otherwise in the band above). Missing and negative values get
    len(edges) + 1, the code after the last band."""
    out = np.empty(len(values), dtype=np.intp)
    for i in range(len(values)):
        v = values[i]
        if not v >= 0:
            out[i] = len(edges) + 1
            continue
        band = 0
        for edge in edges:
            if edge < v or (edge == v and not upper_inclusive):
                band += 1
        out[i] = band
    return out


@numba.njit(cache=True, nogil=True)
def probe(
    keys: np.ndarray, table: np.ndarray, table_keys: np.ndarray, shift: np.uint64, mul: np.uint64
) -> np.ndarray:  # pragma: no cover - compiled
    """Linear probing (see ids.Lookup): each key's home slot is (key * mul) >> shift
    (uint64); slots hold positions into table_keys (int32, -1 empty) and the table ends
    in an empty slot. Returns the position of each key (int32, -1 when absent)."""
    out = np.empty(len(keys), dtype=np.int32)
    for i in range(len(keys)):
        key = keys[i]
        slot = np.int64((key * mul) >> shift)
        found = table[slot]
        while found >= 0 and table_keys[found] != key:
            slot += 1
            found = table[slot]
        out[i] = found
    return out
