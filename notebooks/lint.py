"""Notebook hygiene: notebooks are committed without outputs or execution counts.

    python notebooks/lint.py            # check every notebook beside this file; exit 1 if dirty
    python notebooks/lint.py --fix      # strip outputs and execution counts in place
    python notebooks/lint.py a.ipynb    # check (or --fix) the notebooks named

Standard library only, so it runs anywhere (`make lint` calls it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def problems(notebook: dict[str, Any]) -> list[str]:
    """What makes a notebook dirty, one line per cell (empty when it is clean)."""
    found = []
    for i, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        what = []
        if cell.get("outputs"):
            what.append(f"{len(cell['outputs'])} output(s)")
        if cell.get("execution_count") is not None:
            what.append(f"execution count {cell['execution_count']}")
        if "execution" in cell.get("metadata", {}):
            what.append("execution timing metadata")
        if what:
            found.append(f"cell {i}: {', '.join(what)}")
    return found


def strip(notebook: dict[str, Any]) -> dict[str, Any]:
    """The same notebook without outputs, execution counts or timing metadata."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            cell.get("metadata", {}).pop("execution", None)
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: all here)")
    parser.add_argument("--fix", action="store_true", help="strip outputs in place")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(HERE.glob("*.ipynb"))
    dirty = 0
    for path in paths:
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"{path}: cannot read the notebook: {exc}", file=sys.stderr)
            dirty += 1
            continue
        found = problems(notebook)
        if found and args.fix:
            text = json.dumps(strip(notebook), indent=1, sort_keys=True, ensure_ascii=False)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text + "\n", encoding="utf-8")
            tmp.replace(path)
            print(f"{path}: stripped ({'; '.join(found)})")
        elif found:
            dirty += 1
            for line in found:
                print(f"{path}: {line}", file=sys.stderr)
    if dirty:
        print(
            f"{dirty} notebook(s) have outputs: run `make notebook-clean` "
            "(python notebooks/lint.py --fix) before committing.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
