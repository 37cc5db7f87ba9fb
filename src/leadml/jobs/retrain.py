"""Headless retraining for schedulers: `leadml retrain`.

`retrain` runs, in order: validate the new data (stop on errors), train, gate, promote
or keep the champion, and optionally tell a running server to reload. Training and the
gate are `leadml train`'s own (`jobs.train`, `leadml.promotion`), for a leads + events
folder and a flat CRM export alike. Its outcome maps to the exit code of `leadml retrain`:

| code | outcome |
|---|---|
| 0 | promoted: the new version is the champion (and the server reloaded, if asked) |
| 1 | failure: training failed, or the model was promoted but the server did not reload |
| 3 | kept the champion: the new version failed the gate and stays the challenger |
| 4 | data invalid: validation found errors, nothing was trained |

The reload is `POST <url>/v1/model/reload` with `Authorization: Bearer <admin key>`; the
server answers 200 with `{"model_version": ..., "previous_version": ...}` or an error
status with a JSON problem body, whose title and detail are reported.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from leadml.config import Config
from leadml.errors import InputError, LeadmlError
from leadml.tracking.log import tag_run

if TYPE_CHECKING:
    from leadml.data.validate import Problem, ValidationReport
    from leadml.jobs.train import TrainOutcome

RELOAD_PATH: Final = "/v1/model/reload"
JOB_TAG: Final = "leadml.job"
DASK_NOTE: Final = (
    '[compute] engine = "dask": validated partition by partition on the workers as it is read'
)
FLAT_NOTE: Final = (
    "a flat CRM export: checked against the [dataset] mapping as it is read (no folder contract)"
)


class RetrainStatus(IntEnum):
    """The outcome of `leadml retrain`; the value is the process exit code."""

    PROMOTED = 0
    FAILED = 1
    KEPT_CHAMPION = 3
    DATA_INVALID = 4

    @property
    def label(self) -> str:
        """A lower-case name for logs and JSON: promoted, failed, kept_champion, ..."""
        return self.name.lower()


class ReloadError(LeadmlError):
    """The server did not confirm the reload (unreachable, refused, or a bad answer)."""


@dataclass(frozen=True)
class ReloadTarget:
    """Where and how to ask a running server to reload its model."""

    url: str
    """The server's base URL, e.g. http://127.0.0.1:8000 (the path is added)."""
    admin_key: str = field(repr=False)
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise InputError(
                "bad reload URL", option="--reload-url", value=self.url, expected="http(s)://..."
            )
        if not self.admin_key:
            raise InputError(
                "a reload needs the server's admin key",
                option="--admin-key",
                expected="--admin-key KEY or the LEADML_ADMIN_KEY environment variable",
            )


@dataclass(frozen=True)
class ReloadResult:
    """The server's confirmation of a reload."""

    model_version: str
    previous_version: str | None


def reload_server(target: ReloadTarget) -> ReloadResult:
    """POST the reload request; raise `ReloadError` unless the server confirms it."""
    url = target.url.rstrip("/") + RELOAD_PATH
    request = urllib.request.Request(
        url,
        data=b"{}",
        method="POST",
        headers={
            "Authorization": f"Bearer {target.admin_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=target.timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        problem = _problem(exc.read())
        raise ReloadError(
            f"the server at {url} refused to reload: HTTP {exc.code}"
            + (f" ({problem})" if problem else "")
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ReloadError(f"cannot reach the server at {url}: {reason}") from None
    try:
        answer = json.loads(body)
        version = answer["model_version"]
    except (ValueError, KeyError, TypeError):
        raise ReloadError(
            f"the server at {url} answered without a model_version: {body[:200]!r}"
        ) from None
    previous = answer.get("previous_version")
    return ReloadResult(str(version), None if previous is None else str(previous))


def _problem(body: bytes) -> str:
    """'title: detail' from a JSON problem body, or the start of a non-JSON body."""
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip()
    if not isinstance(data, dict):
        return str(data)[:200]
    parts = [str(data[k]) for k in ("title", "detail") if data.get(k)]
    return ": ".join(parts) if parts else json.dumps(data)[:200]


@dataclass(frozen=True)
class RetrainResult:
    """What happened, with the evidence: the validation report, the run, the reload."""

    status: RetrainStatus
    report: ValidationReport
    outcome: TrainOutcome | None = None
    reload: ReloadResult | None = None
    error: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """The process exit code of `leadml retrain` (see the module docstring)."""
        return int(self.status)

    def to_dict(self) -> dict[str, Any]:
        """The `--metrics-out` JSON: the training result (if any) plus the retrain outcome."""
        base = {} if self.outcome is None else self.outcome.metrics_json()
        return base | {
            "retrain": {
                "status": self.status.label,
                "exit_code": self.exit_code,
                "validation": {
                    "errors": self.report.error_count,
                    "warnings": self.report.warning_count,
                },
                "reload": None
                if self.reload is None
                else {
                    "model_version": self.reload.model_version,
                    "previous_version": self.reload.previous_version,
                },
                "error": self.error,
                "notes": list(self.notes),
            }
        }


def retrain(
    data_dir: Path,
    config: Config,
    *,
    reload: ReloadTarget | None = None,
    on_step: Callable[[str], None] | None = None,
    on_round: Callable[[int, int], None] | None = None,
) -> RetrainResult:
    """Validate, train, gate, promote or keep, and (when promoted) ask the server to reload.

    `data_dir`: a leads + events folder, or (with a `[dataset]` mapping in the config) the
    flat CRM export, which has no folder contract to validate: reading it against the
    mapping checks it, as in `leadml train`. With `[compute] engine = "dask"` the Dask
    engine's read validates the folder (`engine.read.read_tables`), as `leadml train`'s
    does; an error there is invalid data too. Raises on a training failure (exit code 1); a
    failed reload after a promotion is returned as `FAILED` with the outcome, since the
    registry has already changed.
    """
    from leadml.data.load import Dataset
    from leadml.data.validate import ValidationReport, check_folder
    from leadml.jobs.train import DataRefused, Promotion, train_and_track

    step = on_step or (lambda _msg: None)
    dataset = None
    if config.dataset is not None:
        report = ValidationReport(Path(data_dir), notes=[FLAT_NOTE])
    elif config.compute.engine == "dask":
        # Validated on the workers as the job reads it: checking here would refuse a
        # partitioned folder, or load the whole data on this machine first.
        report = ValidationReport(Path(data_dir), notes=[DASK_NOTE])
    else:
        step("validating the new data")
        checked = check_folder(Path(data_dir))
        report = checked.report
        if not report.ok or checked.leads is None or checked.events is None:
            return RetrainResult(RetrainStatus.DATA_INVALID, report)
        dataset = Dataset(leads=checked.leads, events=checked.events, report=report)
    try:
        outcome = train_and_track(
            data_dir,
            config,
            promotion=Promotion.GATE,
            on_step=step,
            on_round=on_round,
            dataset=dataset,
            job="retrain",
        )
    except DataRefused as exc:
        report.problems.append(_refused(exc, data_dir))
        return RetrainResult(RetrainStatus.DATA_INVALID, report)
    tag_run(config, outcome.run_id, {JOB_TAG: "retrain"})
    if not outcome.promoted:
        return RetrainResult(RetrainStatus.KEPT_CHAMPION, report, outcome)
    if reload is None:
        return RetrainResult(RetrainStatus.PROMOTED, report, outcome)
    step("asking the server to reload")
    return _reload(reload, config, report, outcome)


def _refused(exc: InputError, data_dir: Path) -> Problem:
    """The Dask engine's one validation error as a report line."""
    from leadml.data.validate import Problem

    return Problem(
        severity="error",
        code=exc.message,
        file=str(exc.file if exc.file is not None else data_dir),
        row=exc.row,
        column=exc.column,
        value=exc.value,
        expected=exc.expected or "",
    )


def _reload(
    target: ReloadTarget, config: Config, report: ValidationReport, outcome: TrainOutcome
) -> RetrainResult:
    """Ask the server to load the new champion and record its answer on the run."""
    try:
        answer = reload_server(target)
    except ReloadError as exc:
        tag_run(config, outcome.run_id, {"leadml.reload": f"failed: {exc}"[:5000]})
        return RetrainResult(RetrainStatus.FAILED, report, outcome, error=str(exc))
    tag_run(config, outcome.run_id, {"leadml.reload": f"ok: serving {answer.model_version}"})
    notes: tuple[str, ...] = ()
    if answer.model_version != outcome.model_version:
        notes = (
            f"the server now serves version {answer.model_version}, not the new champion "
            f"{outcome.model_version}: check which model reference it loads",
        )
    return RetrainResult(RetrainStatus.PROMOTED, report, outcome, answer, notes=notes)
