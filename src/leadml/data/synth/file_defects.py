"""Deliberately broken files: one small folder per file-level defect the validator catches.

A missing table, an empty file, cp1252 bytes, semicolons and a missing column, each
around a small clean funnel, so a test (or a user) can see every file-level problem.
"""

from __future__ import annotations

from pathlib import Path

from leadml import schema
from leadml.data.synth.funnel import generate_funnel
from leadml.data.synth.writer import write_table


def write_file_defects(out_dir: Path, *, seed: int = 0) -> dict[str, Path]:
    """Write one folder per file-level defect under out_dir/file_defects; code -> folder."""
    funnel = generate_funnel(40, seed=seed)
    root = Path(out_dir) / "file_defects"
    folders: dict[str, Path] = {}

    def folder(code: str) -> Path:
        path = root / code
        path.mkdir(parents=True, exist_ok=True)
        folders[code] = path
        return path

    def write_clean(path: Path, *tables: str) -> None:
        frames = {schema.LEADS: funnel.leads, schema.EVENTS: funnel.events}
        for name in tables:
            write_table(frames[name], path / f"{name}.csv", "csv")

    write_clean(folder("missing_file"), schema.LEADS)  # no events.csv
    path = folder("empty_file")
    (path / "leads.csv").write_bytes(b"")
    write_clean(path, schema.EVENTS)

    path = folder("bad_encoding")  # Windows-1252 bytes are not valid UTF-8
    leads = funnel.leads.copy()
    leads.loc[0, schema.COMPANY] = "Müller Präzision GmbH"
    leads.loc[1, schema.CONTACT_NAME] = "José Núñez"
    leads.to_csv(path / "leads.csv", index=False, lineterminator="\n", encoding="cp1252")
    write_clean(path, schema.EVENTS)

    path = folder("bad_delimiter")  # a European spreadsheet export
    for name, frame in ((schema.LEADS, funnel.leads), (schema.EVENTS, funnel.events)):
        frame.to_csv(path / f"{name}.csv", index=False, sep=";", lineterminator="\n")

    path = folder("missing_column")
    write_table(funnel.leads.drop(columns=[schema.CREATED_AT]), path / "leads.csv", "csv")
    write_clean(path, schema.EVENTS)
    return folders
