"""Write a funnel to disk atomically and reproducibly (same seed, same bytes)."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pandas.errors import Pandas4Warning

from leadml import schema
from leadml.data.io import MANIFEST
from leadml.data.synth.tables import Funnel
from leadml.errors import InputError

TABLES = (schema.LEADS, schema.EVENTS, schema.TRUTH)


def timestamp_text(values: pd.Series) -> pd.Series:
    """Whole-second UTC timestamps as CSV text, 'YYYY-MM-DD HH:MM:SS+00:00' (nulls stay null).

    The same text pandas writes, about fifty times faster on millions of events.
    """
    naive = values.dt.tz_convert("UTC").dt.tz_convert(None).to_numpy().astype("datetime64[s]")
    clock = pc.cast(pa.array(naive, from_pandas=True), pa.large_string())
    utc = pa.scalar("+00:00", pa.large_string())
    text = pc.binary_join_element_wise(clock, utc, pa.scalar("", pa.large_string()))
    return pd.Series(pd.array(text, dtype="str"), index=values.index, name=values.name)


def _whole_seconds(values: pd.Series) -> bool:
    naive = values.dt.tz_convert(None).to_numpy()
    naive = naive[~np.isnat(naive)]
    return bool((naive.astype("datetime64[s]") == naive).all())


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Pre-format tz-aware timestamp columns (pandas formats them slowly, row by row)."""
    stamps = [
        col
        for col in frame.columns
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype) and _whole_seconds(frame[col])
    ]
    return frame.assign(**{col: timestamp_text(frame[col]) for col in stamps}) if stamps else frame


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """A frame as the Arrow table its Parquet file holds (no index)."""
    with warnings.catch_warnings():
        # pyarrow reads tz-aware columns via Series.values, deprecated in pandas 3.1
        warnings.filterwarnings("ignore", "Series.values returning", Pandas4Warning)
        return pa.Table.from_pandas(frame, preserve_index=False)


PARQUET_COMPRESSION = "snappy"


def write_table(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    """Write one frame as Parquet or CSV with settings that give byte-identical output."""
    if fmt == "parquet":
        pq.write_table(arrow_table(frame), path, compression=PARQUET_COMPRESSION)
    else:
        _csv_ready(frame).to_csv(path, index=False, lineterminator="\n", encoding="utf-8")


def write_funnel(funnel: Funnel, out_dir: Path, *, fmt: str = "parquet") -> list[Path]:
    """Write leads, events and truth as `<table>.<fmt>` into out_dir, all or nothing.

    Files are written into a temporary folder beside out_dir and then moved into place,
    so a crash never leaves a half-written file. Files of the same tables in the other
    format, and a partitioned dataset leadml wrote there (its manifest says so), are
    removed, so the folder holds exactly one dataset.
    """
    if fmt not in schema.TABLE_FORMATS:
        raise InputError(
            "unknown file format",
            column="format",
            value=fmt,
            expected=" or ".join(schema.TABLE_FORMATS),
        )
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    frames = {schema.LEADS: funnel.leads, schema.EVENTS: funnel.events, schema.TRUTH: funnel.truth}
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        for name in TABLES:
            write_table(frames[name], staging / f"{name}.{fmt}", fmt)
        out_dir.mkdir(exist_ok=True)
        paths = []
        for name in TABLES:
            target = out_dir / f"{name}.{fmt}"
            (staging / target.name).replace(target)
            paths.append(target)
        for name in TABLES:
            for other in schema.TABLE_FORMATS:
                if other != fmt:
                    (out_dir / f"{name}.{other}").unlink(missing_ok=True)
        if (out_dir / MANIFEST).is_file():
            for name in TABLES:
                shutil.rmtree(out_dir / name, ignore_errors=True)
            (out_dir / MANIFEST).unlink()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return paths
