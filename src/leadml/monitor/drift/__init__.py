"""Drift monitoring: how far new leads have moved from the data the model learned from.

The **reference** is stored with the model (`Bundle.extra["drift_reference"]`) when it is
trained: every raw feature of the *train* window, binned, and the calibrated score of the
*validation* window (out-of-sample, the same leads the score percentiles come from).
The **current** population is a new data folder, built by the same feature code at each
lead's own scoring moment. Leads whose observation period has not ended yet (cutoff
after the end of the data) and leads that converted before their cutoff are left out,
exactly as training left them out, so like is compared with like.

Population stability index per feature and for the score, over the reference's bins:
PSI = sum over bins of (current share - reference share) * ln(current / reference), with
shares floored at `EPSILON`. Numeric bins are the reference deciles (right-closed, equal
edges merged) plus one bin for missing values. Categorical bins are the levels the model
tells apart (the feature spec's levels: for `campaign` only campaigns with enough training
leads), one bin for every other value (rare or new) and one for missing: the PSI measures
the shift the model sees, so a quarterly campaign rotation does not drown the signal.
New and gone levels are reported separately, against every raw level seen in training.
Rules of thumb: below 0.1 stable, 0.1-0.25 worth watching, 0.25 and above a real shift
(`PSI_WATCH`, `PSI_ALERT`).
"""

from leadml.monitor.drift.profiles import (
    EPSILON,
    GONE_MIN_SHARE,
    MAX_LEVELS,
    MISSING,
    NUMERIC_BINS,
    OTHER,
    PROFILE_VERSION,
    PSI_ALERT,
    PSI_WATCH,
    REFERENCE_KEY,
    SCORE,
    Kind,
    Profile,
    Reference,
    Status,
    build_reference,
    profile,
    psi,
    status,
)
from leadml.monitor.drift.report import (
    Calibration,
    Current,
    DriftReport,
    calibration_check,
    compare,
)

__all__ = [
    "EPSILON",
    "GONE_MIN_SHARE",
    "MAX_LEVELS",
    "MISSING",
    "NUMERIC_BINS",
    "OTHER",
    "PROFILE_VERSION",
    "PSI_ALERT",
    "PSI_WATCH",
    "REFERENCE_KEY",
    "SCORE",
    "Calibration",
    "Current",
    "DriftReport",
    "Kind",
    "Profile",
    "Reference",
    "Status",
    "build_reference",
    "calibration_check",
    "compare",
    "profile",
    "psi",
    "status",
]
