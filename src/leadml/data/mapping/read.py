"""Reading a flat CRM export with its `[dataset]` mapping: text columns, missing tokens,
ids and numbers checked, every problem naming the file, line, column and value."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from leadml.data.io import header_names, refuse_duplicate_columns
from leadml.data.mapping.config import (
    FEATURE_ROLES,
    SPLIT_VALUES,
    DatasetConfig,
    first_non_number,
)
from leadml.errors import InputError

if TYPE_CHECKING:
    import pandas as pd


def read_flat(path: Path, dataset: DatasetConfig, *, scoring: bool = False) -> pd.DataFrame:
    """The export as text columns (object dtype, None for missing tokens), ids as str.

    Columns named in the mapping but absent from the file are an error naming them; when
    `scoring`, only the id column is required (the label may be absent and an absent
    feature column is all missing). A `split_column` is read as lower-case train, valid or
    test (any other value is an error naming its line) when training.
    """
    import pandas as pd

    if not path.exists():
        raise InputError("file not found", file=path, expected="the CRM export named in [dataset]")
    try:
        if dataset.format == "parquet":
            frame = pd.read_parquet(path).astype(object)
        else:
            frame = pd.read_csv(
                path,
                sep=dataset.delimiter,
                dtype=object,
                keep_default_na=False,
                encoding=dataset.encoding,
            )
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(
            f"cannot read the export: {exc}",
            file=path,
            expected=f"a {dataset.format} file (delimiter {dataset.delimiter!r})",
        ) from exc
    if dataset.format != "parquet":
        names = header_names(path, dataset.delimiter, dataset.encoding)
    else:
        names = [str(c) for c in frame.columns]
    refuse_duplicate_columns(names, path)
    frame.columns = [str(c).strip() for c in frame.columns]
    needed = [
        dataset.id_column,
        dataset.label,
        dataset.converted_at,
        dataset.created_at,
        dataset.split_column,
    ]
    required = [n for n in needed if n] + list(dataset.columns)
    if scoring:
        required = [dataset.id_column] if dataset.id_column else []
        for name in dataset.feature_names:
            if name not in frame.columns:
                frame[name] = None
    for name in required:
        if name not in frame.columns:
            raise InputError(
                "column named in [dataset] is not in the file",
                file=path,
                column=name,
                expected=f"one of {', '.join(map(str, frame.columns[:30]))}",
            )
    frame = clean_missing(frame, dataset.missing)
    check_numbers(frame, dataset, path)
    if dataset.split_column and not scoring:
        frame[dataset.split_column] = split_values(frame[dataset.split_column], dataset, path)
    ids = _ids(frame, dataset, path)
    frame.index = pd.Index(ids, name=dataset.id_name)
    return frame


def clean_missing(frame: pd.DataFrame, tokens: tuple[str, ...]) -> pd.DataFrame:
    """Text stripped; missing tokens (case-insensitive) and NaN become None."""
    import pandas as pd

    lowered = {t.strip().lower() for t in tokens}
    out = {}
    for name in frame.columns:
        values = frame[name].to_numpy(dtype=object)
        cleaned = np.empty(len(values), dtype=object)
        for i, value in enumerate(values.tolist()):
            if value is None or (isinstance(value, float) and np.isnan(value)):
                cleaned[i] = None
                continue
            text = str(value).strip()
            cleaned[i] = None if text.lower() in lowered else text
        out[name] = pd.Series(cleaned, index=frame.index, dtype=object)
    return pd.DataFrame(out, index=frame.index)


def _ids(frame: pd.DataFrame, dataset: DatasetConfig, path: Path) -> np.ndarray:
    if dataset.id_column is None:
        return np.array([str(i) for i in range(1, len(frame) + 1)], dtype=object)
    ids = frame[dataset.id_column]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0]) + 2
        raise InputError("empty lead id", file=path, row=row, column=dataset.id_column)
    dup = ids.duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0]) + 2
        raise InputError(
            "duplicate lead id",
            file=path,
            row=row,
            column=dataset.id_column,
            value=ids.iloc[row - 2],
            expected="one row per lead",
        )
    return ids.to_numpy(dtype=object)


def check_numbers(frame: pd.DataFrame, dataset: DatasetConfig, path: Path) -> None:
    """Raise InputError naming the file, its line, the column and the value for the first
    value of a numeric-typed column that is not a number (`frame`: `read_flat`, file order)."""
    for name, column in dataset.columns.items():
        if column.type != "numeric" or column.role not in FEATURE_ROLES or name not in frame:
            continue
        bad = first_non_number(frame[name].to_numpy(dtype=object))
        if bad is not None:
            csv = dataset.format == "csv"
            raise InputError(
                f"not a number (line {bad + 2} of the file)" if csv else "not a number",
                file=path,
                row=bad + 2 if csv else bad + 1,
                column=name,
                value=frame[name].iloc[bad],
                expected='a number or a missing-value token, or set type = "categorical" '
                "for this column in [dataset.columns]",
            )


def split_values(values: pd.Series, dataset: DatasetConfig, path: Path) -> pd.Series:
    """A `split_column` as lower-case train / valid / test; the first other value (a missing
    one included) is an InputError naming the file, its line and the value."""
    lowered = values.map(lambda v: str(v).strip().lower(), na_action="ignore")
    bad = ~lowered.isin(SPLIT_VALUES).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        csv = dataset.format == "csv"
        raise InputError(
            f"not a split name (line {i + 2} of the file)" if csv else "not a split name",
            file=path,
            row=i + 2 if csv else i + 1,
            column=dataset.split_column,
            value="" if values.iloc[i] is None else values.iloc[i],
            expected="train, valid or test on every row (case-insensitive); or remove "
            "split_column from [dataset] to let leadml split",
        )
    return lowered
