"""The wheel installs `leadml` and `leadml_serve` and nothing else (no generic top-level
`serve`), with the sales page's assets, and its `leadml` script runs in a clean venv.

The wheel is built from a copy of the sources, so the build's `build/` and `*.egg-info`
never land in the checkout. Building needs no network: `--no-build-isolation` uses the
project venv's setuptools (>=77, from the dev extras).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "src", "serve")
PACKAGES = {"leadml": Path("src/leadml"), "leadml_serve": Path("serve/leadml_serve")}
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def _run(
    args: list[str | Path], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [str(a) for a in args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


def _clean_env() -> dict[str, str]:
    """This environment without Python's path variables, and a wide plain terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return env | {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what the build reads."""
    copy = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, copy / name, ignore=_SKIP)
        else:
            shutil.copy2(ROOT / name, copy / name)
    return copy


@pytest.fixture(scope="module")
def wheel(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "--wheel-dir", dist, source],
    )  # fmt: skip
    assert built.returncode == 0, (
        f"{built.stderr}\nthe build uses this venv's setuptools (>=77) and wheel: "
        "`pip install -e '.[dev]'` installs them"
    )
    (found,) = dist.glob("leadml-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel; it reaches the dependencies through a .pth line
    naming this venv's site-packages (a path only: the .pth files there, the editable
    install of this checkout among them, are not run from it)."""
    target = tmp_path_factory.mktemp("venv") / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", target])
    assert made.returncode == 0, made.stderr
    python = target / "bin" / "python"
    paths = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    site = Path(paths.stdout.strip())
    installed = _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
         "--no-index", "--quiet", wheel],
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site / "dependencies.pth").write_text("".join(f"{p}\n" for p in ours), encoding="utf-8")
    return target


def test_the_wheel_holds_leadml_and_leadml_serve_only(wheel: Path, source: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
    assert {n.split("/")[0] for n in names} - {info} == {"leadml", "leadml_serve"}
    top_level = zipfile.ZipFile(wheel).read(f"{info}/top_level.txt").decode().split()
    assert top_level == ["leadml", "leadml_serve"]
    for package, folder in PACKAGES.items():  # every module and asset of the checkout
        files = {
            f"{package}/{p.relative_to(source / folder).as_posix()}"
            for p in (source / folder).rglob("*")
            if p.is_file() and (p.suffix in (".py", ".typed") or "web" in p.parts)
        }
        assert files and files <= set(names), sorted(files - set(names))
    assert "leadml_serve/web/templates/index.html" in names
    assert "leadml_serve/web/static/app.js" in names
    entry_points = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    assert re.search(r"^leadml = leadml_serve\.cli:main$", entry_points, re.MULTILINE)


def test_the_installed_leadml_runs_from_the_wheel_not_the_checkout(
    venv: Path, tmp_path: Path
) -> None:
    where = _run(
        [venv / "bin" / "python", "-c",
         "import importlib.util, pathlib, leadml, leadml_serve\n"
         "print(leadml.__file__)\nprint(leadml_serve.__file__)\n"
         "print(importlib.util.find_spec('serve'))\n"
         "page = pathlib.Path(leadml_serve.__file__).parent / 'web' / 'templates'\n"
         "print((page / 'index.html').is_file())"],
        cwd=tmp_path, env=_clean_env(),
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    leadml_file, serve_file, serve_spec, page = where.stdout.split()
    assert Path(leadml_file).is_relative_to(venv), leadml_file
    assert Path(serve_file).is_relative_to(venv), serve_file
    assert serve_spec == "None"  # no generic top-level `serve` anywhere on the path
    assert page == "True"

    shown = _run([venv / "bin" / "leadml", "--help"], cwd=tmp_path, env=_clean_env())
    assert shown.returncode == 0, shown.stderr
    commands = set(re.findall(r"^\W*([a-z][a-z-]+)\s{2,}\S", shown.stdout, re.MULTILINE))
    assert {"serve", "score", "keys", "train"} <= commands, shown.stdout
    keys = _run([venv / "bin" / "leadml", "keys", "--help"], cwd=tmp_path, env=_clean_env())
    assert keys.returncode == 0 and "new" in keys.stdout, keys.stderr
