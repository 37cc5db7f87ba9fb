"""The validator: checks a data folder against the leads/events data contract.

Every problem is reported (not just the first) with file, row, column, the bad value
and what was expected. Rows are what an editor shows: CSV line numbers (header = line
1, first data row = 2; blank and unreadable lines are counted) or 1-based Parquet row
indexes. Per (file, code, column) the first `ROW_CAP` (20) rows are listed one by one,
then one summary line (row None) whose `count` is the rest, so `report.count(code)`
and `report.error_count` are exact totals.

The contract as checked here (names from `leadml.schema`):

Files. The folder holds exactly one `leads` and one `events` table, each as .parquet,
.csv or .csv.gz. CSV: UTF-8 (a BOM is fine), comma-separated, header on line 1; cells
equal to one of `leadml.data.io.NA_TOKENS` ('', NA, N/A, n/a, NaN, nan, NULL, null, #N/A,
<NA>) are missing ('None' is not: it is a lead-source label); surrounding whitespace is
trimmed from every value; blank lines are skipped. Parquet columns may be typed
(timestamps, numbers) or text; both are accepted.

leads, one row per lead. Required: lead_id (text, unique, non-empty), created_at
(timestamp, non-empty), lead_source (empty -> 'unknown'). Optional (absent -> a
`missing_optional_column` warning and an all-missing column): campaign, company,
industry, employees, annual_revenue, country, job_title, seniority, contact_name,
email, phone, acquisition_cost, converted_at (timestamp; empty = not converted).

events, one row per engagement. Required, all non-empty: lead_id (must be a lead_id in
leads), occurred_at (timestamp), event_type.

Both: other columns are carried along unchanged (and named in the notes).

Clean frames (what `leadml.data.load.load_dataset` returns). Timestamps: datetime64[us, UTC];
ISO 8601 with an offset is converted to UTC, naive values are read as UTC, and the
styles in `parse.FALLBACK_FORMATS` (03/15/2024, 15.03.2024, 2024/03/15, 15 Mar 2024,
... with optional time and a trailing 'UTC'/'GMT') are read too; slash dates are read
day-first only when a column needs it (a day above 12), else month-first.
employees, annual_revenue, acquisition_cost: float64 (plain numbers only, >= 0).
Everything else: pandas `str` with NaN for missing, never the text 'nan'. Row order is
kept; columns come in contract order, then the extra columns in file order.

Normalisation (one `normalised_category` warning per column, details in the notes):
lead_source via `canonical_category(v, SOURCE_ALIASES)`, empty -> 'unknown'; industry
and seniority via `INDUSTRY_ALIASES` / `SENIORITY_ALIASES`; country trimmed and
upper-cased; event_type via `normalise_token`. Values outside `LEAD_SOURCES`,
`INDUSTRIES`, `SENIORITIES` or `EVENT_TYPES` are kept and reported with counts. Email
is trimmed and lower-cased (not counted).

Codes and their meanings: `ERROR_CODES` (the data cannot be loaded) and
`WARNING_CODES` (loaded, but worth a look) in `leadml.data.validate.report`.
"""

from leadml.data.validate.folder import ValidationResult, check_folder, utc_now, validate_folder
from leadml.data.validate.report import (
    ERROR_CODES,
    ROW_CAP,
    WARNING_CODES,
    DataValidationError,
    Problem,
    ProblemLog,
    ValidationReport,
)

__all__ = [
    "ERROR_CODES",
    "ROW_CAP",
    "WARNING_CODES",
    "DataValidationError",
    "Problem",
    "ProblemLog",
    "ValidationReport",
    "ValidationResult",
    "check_folder",
    "utc_now",
    "validate_folder",
]
