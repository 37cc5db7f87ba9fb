"""The built-in synthetic lead funnel: leads, events and the ground truth behind them.

Timeline: leads are created from 2024-01-01 (UTC) over 730 days; the data is extracted
at the end of that span (`EXTRACTED_AT`, 2025-12-31): no event or conversion after it
is recorded, so leads created in the last 104 days are censored for the standard label.

Truth: for each lead the standard cutoff is `created_at + 14 days`
(schema.STANDARD_OBSERVATION_DAYS) and the window is `(cutoff, cutoff + 90 days]`
(schema.STANDARD_WINDOW_DAYS). `true_probability` is P(converted in the window | what
is known at the cutoff): a logistic function of the lead's source, its firmographics as
written (missing values count as unknown) and its events strictly before the cutoff, in
which buying intent counts only as far as the contact can buy (fit times intent) and
seniority and size act non-monotonically (see `truth`). The outcome is then drawn from
it. Leads that convert before their cutoff (hot hand-raisers)
have `eligible=False` and no probability. Some leads convert after the window (late
conversions): they count as negative for the window label.

Mess, on purpose: 10-30% missing firmographics per column, alias spellings of sources,
industries and seniorities, people registering twice under a new lead_id, a drifting
source mix with `review_site` only in the last 90 days, anonymous visits stitched to
leads before their creation, and post-conversion events (onboarding, invoice_paid).
"""

from leadml.data.synth.file_defects import write_file_defects
from leadml.data.synth.funnel import generate_funnel
from leadml.data.synth.tables import Funnel
from leadml.data.synth.timeline import EXTRACTED_AT, SPAN_DAYS, START
from leadml.data.synth.writer import write_funnel

__all__ = [
    "EXTRACTED_AT",
    "SPAN_DAYS",
    "START",
    "Funnel",
    "generate_funnel",
    "write_file_defects",
    "write_funnel",
]
