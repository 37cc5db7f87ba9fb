"""The `leadml` command line, split by stage: data, model, scoring and monitoring commands,
one renderer (`render`) and one progress helper (`progress`)."""

from leadml.cli.app import app, build_app, main, run
from leadml.cli.common import console

__all__ = ["app", "build_app", "console", "main", "run"]
