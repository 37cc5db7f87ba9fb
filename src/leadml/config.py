"""One typed configuration object, read from `leadml.toml` at the entry point.

Nothing here runs at import. `load_config` is called once by the CLI (or a
notebook) and the resulting `Config` is passed down explicitly.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from leadml import schema
from leadml.data.mapping.config import DatasetConfig
from leadml.errors import InputError

DEFAULT_CONFIG_FILE = "leadml.toml"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LabelConfig(_Section):
    """The scoring moment (cutoff) and the conversion window that defines the label."""

    observation_days: int = Field(schema.STANDARD_OBSERVATION_DAYS, ge=0)
    """The one-cutoff moment, created_at + observation_days: a one-cutoff model's cutoff, and
    where a snapshot model is also evaluated (the oracle's moment) and insights count."""
    window_days: int = Field(schema.STANDARD_WINDOW_DAYS, gt=0)
    """Label: converted in (cutoff, cutoff + window_days]."""
    snapshot: datetime | None = None
    """A fixed cutoff for every lead (batch scoring style) instead of observation_days."""
    snapshot_every_days: int = Field(30, ge=0)
    """Snapshot training (the default): on a calendar of dates this many days apart, every
    lead that is open (created, not converted) gives a row at the age it has then, so the
    training and validation rows look like the open lists `leadml score` ranks. 0: off."""
    snapshot_days: tuple[Annotated[int, Field(ge=0)], ...] = ()
    """Snapshot training at fixed ages instead (e.g. [0, 7, 14, 30, 60, 90, 180, 365]): each
    lead gives a row at each age while it is open. Used when `snapshot_every_days` is 0.
    Both off: one row per lead, at `observation_days` (the one-cutoff model)."""

    snapshot_max_rows: int = Field(400_000, ge=0)
    """Snapshot rows are sampled down to about this many (the same random share of every
    snapshot, so the mix of ages stays), which bounds training time. 0: keep every row."""

    @property
    def uses_snapshots(self) -> bool:
        """Whether training builds snapshot rows (several moments per lead)."""
        return bool(self.snapshot_days or self.snapshot_every_days) and self.snapshot is None


class FeatureConfig(_Section):
    """Knobs of the feature families. Stored in the bundle so serving reuses them."""

    windows_days: tuple[int, ...] = (7, 30, 90)
    """Look-back windows for per-event-type counts (an all-time count is always added)."""
    half_life_days: float = Field(14.0, gt=0)
    """Half-life of the exponentially decayed engagement score."""
    campaign_min_leads: int = Field(30, ge=1)
    """Campaigns with fewer training leads than this share one 'other' level."""


class TrainConfig(_Section):
    """Model fitting: time split fractions, LightGBM parameters, seed."""

    seed: int = 42
    train_fraction: float = Field(0.70, gt=0, lt=1)
    valid_fraction: float = Field(0.15, gt=0, lt=1)
    learning_rate: float = Field(0.05, gt=0)
    num_leaves: int = Field(31, ge=2)
    """31 since snapshot training (8x the rows): the one-cutoff AUC/oracle ratio went from
    0.966 with 15 leaves to 0.983 on the demo funnel."""
    min_data_in_leaf: int = Field(50, ge=1)
    feature_fraction: float = Field(0.9, gt=0, le=1)
    lambda_l2: float = Field(1.0, ge=0)
    max_rounds: int = Field(2000, ge=1)
    early_stopping_rounds: int = Field(100, ge=1)
    num_threads: int = Field(0, ge=0)
    """0 lets LightGBM use every core."""
    snapshot_weighting: Literal["none", "lead"] = "none"
    """Snapshot training: "lead" weights each train row by 1 / (the lead's rows), so a lead
    open for two years counts as much as one that converted in a month. On the demo funnel
    it changed nothing beyond noise (open-list ECE 0.0012 vs 0.0015, AUC 0.960 vs 0.961,
    one-cutoff AUC/oracle 0.980 vs 0.983), so "none" keeps the rows as open lists hold them."""
    tune_trials: int = Field(0, ge=0)
    """Optuna trials on the validation window (0 = no tuning)."""
    allow_leaky: tuple[str, ...] = ()
    """Feature columns the leakage guard may flag but training should keep anyway."""
    shap_sample: int = Field(5000, ge=100)
    """Test leads explained with exact TreeSHAP for the run's SHAP plots."""
    bootstrap_rounds: int = Field(200, ge=0)
    """Bootstrap resamples for the test AUC's 95% interval."""


class GateConfig(_Section):
    """Promotion gate: the challenger may not be meaningfully worse than the champion."""

    auc_tolerance: float = Field(0.005, ge=0)
    ece_tolerance: float = Field(0.01, ge=0)


class MlflowConfig(_Section):
    """Where runs and registered models live. Defaults to a SQLite file in the project."""

    tracking_uri: str | None = None
    """None means `sqlite:///<project>/mlflow.db` with artifacts in `<project>/mlartifacts`."""
    experiment: str = "leadml"
    model_name: str = "lead-conversion"


class ApiKeyConfig(_Section):
    """One API key, stored as the SHA-256 hex digest of the key (never the key itself)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    admin: bool = False
    """Admin keys may also call admin routes such as POST /v1/model/reload."""


class ServeConfig(_Section):
    """The scoring service: which model, who may call it, and how much one request may ask."""

    model: str = "models:/lead-conversion@champion"
    """A registry reference (models:/name@alias, models:/name/3) or a bundle folder."""
    model_roots: tuple[Path, ...] | None = None
    """Folders a bundle folder may be loaded from (at start-up and by POST /v1/model/reload),
    relative to the project; None: `[paths] models_dir`. Registry references are always
    allowed. Symlinks are resolved before the check."""
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    auth: Literal["keys", "none"] = "keys"
    """"none" turns authentication off; the server then warns loudly at start."""
    api_keys: tuple[ApiKeyConfig, ...] = ()
    max_leads: int = Field(1000, ge=1)
    """Most leads one POST /v1/predict may carry (413 beyond)."""
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    """Largest request body accepted (413 beyond)."""
    cors_origins: tuple[str, ...] = ()
    """Origins allowed by CORS; empty means CORS is off."""
    top_k: int = Field(3, ge=1, le=10)
    """Reasons per direction (positive and negative) in each prediction."""
    docs: bool = False
    """Serve Swagger UI at /docs. Off by default: its script and styles come from a CDN,
    which the API's Content-Security-Policy otherwise forbids. /openapi.json is always on."""


class StoreConfig(_Section):
    """The scores store: written by `leadml score`, read by the API and the sales page."""

    url: str | None = None
    """SQLAlchemy URL; None means `sqlite:///<project>/scores.db`, beside the MLflow store."""
    trend_points: int = Field(5, ge=1)
    """A score change of at least this many points since the previous batch is a trend."""


class ScoreConfig(_Section):
    """Batch scoring (`leadml score`): what the ranked list carries and how it grades."""

    pass_through: tuple[str, ...] = ("contact_name", "email", "phone")
    """Lead columns copied to the list so sales can act on it. Never features."""
    grade_mode: Literal["model", "batch"] = "model"
    """"model": the bundle's validation thresholds; "batch": shares within this batch."""
    chunk_size: int = Field(50_000, ge=1)
    """Leads explained per step (bounds memory and drives the progress bar)."""
    max_open_days: int = Field(180, ge=0)
    """Leads created more than this many days before the scoring moment that never
    converted are stale: left out of the ranked list, counted and reported. 0: no limit."""
    csv_formula_guard: bool = True
    """Prefix a ' to CSV text cells a spreadsheet would run as a formula (=, +, -, @ ...;
    numbers and phone numbers written with spaces are left intact). Turn off for CRM
    loaders that read the file as data. Excel (.xlsx) output never needs it: its cells
    are typed. The API's CSV download follows the same setting."""
    columns: dict[str, str] = {}
    """Rename the list's columns in CSV and Excel output to match a CRM import template,
    e.g. `score = "Lead_Score__c"` under `[score.columns]`."""
    webhook: str | None = None
    """POST the batch summary and the changed leads (grade moved, newly A) here as JSON
    after each `leadml score` (the --webhook option overrides it)."""
    webhook_secret_env: str = "LEADML_WEBHOOK_SECRET"
    """Environment variable holding the webhook's HMAC-SHA256 signing secret."""
    webhook_attempts: int = Field(4, ge=1, le=10)
    """Tries per webhook delivery (exponential back-off between them)."""

    @field_validator("columns")
    @classmethod
    def _distinct_names(cls, value: dict[str, str]) -> dict[str, str]:
        names = list(value.values())
        if any(not n.strip() for n in names) or len(set(names)) != len(names):
            raise ValueError("[score.columns] new names must be non-empty and distinct")
        return value


class GradesConfig(_Section):
    """How grades split the leads: shares A/B/C/D in percent, best first."""

    shares: tuple[float, float, float, float] = (10.0, 20.0, 30.0, 40.0)
    """Percent of leads per grade A, B, C, D. Training sets its thresholds so that these
    shares hold over the validation leads the list would show (open, not stale); batch
    grade mode applies them to each batch."""

    @field_validator("shares")
    @classmethod
    def _sum_to_100(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(v <= 0 for v in value) or abs(sum(value) - 100.0) > 1e-6:
            raise ValueError(
                f"[grades] shares must be four positive percentages for A, B, C, D that add "
                f"up to 100, e.g. [10, 20, 30, 40]; got {list(value)} (sum {sum(value):g})"
            )
        return value

    def fractions(self) -> dict[str, float]:
        """A, B and C as fractions (D takes the rest), as `bundle.grade_thresholds` takes them."""
        return {g: v / 100.0 for g, v in zip("ABC", self.shares[:3], strict=True)}


class ComputeConfig(_Section):
    """Where the heavy work runs: this process ("local") or a Dask cluster ("dask").

    The same feature, training and scoring code runs either way (`leadml.engine`); Dask is
    imported only when it is chosen."""

    engine: Literal["local", "dask"] = "local"
    scheduler: str | None = None
    """An existing Dask scheduler, e.g. "tcp://10.0.0.5:8786". None with engine "dask":
    a LocalCluster of `workers` processes starts on this machine for the job."""
    workers: int = Field(2, ge=1)
    """LocalCluster: worker processes."""
    threads_per_worker: int = Field(1, ge=1)
    """LocalCluster: threads per worker (LightGBM and numba use this many)."""
    memory_limit: str = "3GiB"
    """LocalCluster: memory per worker before it spills to disk, then pauses ("0": none)."""
    partitions: int = Field(0, ge=0)
    """Partitions the leads (and their events, co-partitioned by lead_id) are split into;
    0: two per worker thread, or the files' own count when that is larger."""
    connect_timeout_seconds: float = Field(10, gt=0)
    """Seconds to wait for `scheduler` to answer before giving up with one error line."""
    sample_rows: int = Field(200_000, ge=1_000)
    """Dask training: train-window rows gathered to one machine to choose the number of
    boosting rounds by early stopping, to check for leakage and to fit the baselines
    (lightgbm.dask has no early stopping: LightGBM #4493, #6197, #7009)."""


class PathsConfig(_Section):
    """Project-relative folders for generated artifacts."""

    models_dir: Path = Path("models")
    reports_dir: Path = Path("reports")


class Config(_Section):
    """The whole configuration. Build it once with `load_config` and pass it down."""

    project_dir: Path = Path(".")
    labels: LabelConfig = LabelConfig()
    features: FeatureConfig = FeatureConfig()
    train: TrainConfig = TrainConfig()
    gate: GateConfig = GateConfig()
    mlflow: MlflowConfig = MlflowConfig()
    paths: PathsConfig = PathsConfig()
    serve: ServeConfig = ServeConfig()
    store: StoreConfig = StoreConfig()
    score: ScoreConfig = ScoreConfig()
    grades: GradesConfig = GradesConfig()
    compute: ComputeConfig = ComputeConfig()
    dataset: DatasetConfig | None = None
    """A flat CRM export (`[dataset]`: `leadml.data.mapping.config`); None: leads + events."""

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI, defaulting to a SQLite file in the project directory."""
        if self.mlflow.tracking_uri:
            return self.mlflow.tracking_uri
        return f"sqlite:///{(self.project_dir / 'mlflow.db').resolve()}"

    @property
    def store_url(self) -> str:
        """The scores store URL, defaulting to a SQLite file in the project directory."""
        if self.store.url:
            return self.store.url
        return f"sqlite:///{(self.project_dir / 'scores.db').resolve()}"

    @property
    def artifact_root(self) -> Path:
        """Local artifact folder used with the default SQLite store."""
        return (self.project_dir / "mlartifacts").resolve()

    def resolve(self, path: Path) -> Path:
        """A path relative to the project directory (absolute paths pass through)."""
        return path if path.is_absolute() else self.project_dir / path


def load_config(
    path: Path | None = None,
    *,
    project_dir: Path | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> Config:
    """Read `leadml.toml` (if given or present) and apply CLI overrides, section by section."""
    project = project_dir or (path.parent if path else Path("."))
    data: dict[str, Any] = {}
    if path is None and (project / DEFAULT_CONFIG_FILE).exists():
        path = project / DEFAULT_CONFIG_FILE
    if path is not None:
        if not path.exists():
            raise InputError("config file not found", file=path, expected="a leadml.toml file")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"invalid TOML: {exc}", file=path) from exc
    for section, values in (overrides or {}).items():
        clean = {k: v for k, v in values.items() if v is not None}
        if clean:
            data[section] = {**data.get(section, {}), **clean}
    data["project_dir"] = project
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, path) from exc


def config_error(exc: ValidationError, path: Path | None) -> InputError:
    """A pydantic validation error of leadml.toml as one line: the setting, what is wrong
    and how to fix it, and the offending value only when it is a value (never a section)."""
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"])
    if first["type"] == "value_error":  # our own validators: the message says how to fix
        message = str(first.get("ctx", {}).get("error", first["msg"]))
        expected = None
    else:
        message = first["msg"]
        expected = "a value matching the documented leadml.toml schema (see the README)"
    value = first.get("input")
    if isinstance(value, dict | list | tuple):
        value = None
    more = f" ({len(errors) - 1} more problems after this one)" if len(errors) > 1 else ""
    return InputError(
        f"setting [{where}]: {message}{more}".replace("\n", " "),
        file=path,
        value=value,
        expected=expected,
    )
