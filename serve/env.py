"""Environment variables `leadml serve` hands to uvicorn's worker processes.

Kept in a module with no heavy imports, so the serving CLI can set them without loading
the model stack in the parent process as well as in every worker.
"""

from __future__ import annotations

CONFIG_ENV = "LEADML_SERVE_CONFIG"
"""The final Config as JSON (built once by the CLI from leadml.toml, flags and keys)."""
SYNC_ENV = "LEADML_SERVE_SYNC_FILE"
"""The file through which a reload in one worker reaches the others (serve.workers)."""
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's folder for metrics shared by several worker processes."""
RESOLVED_ENV = "LEADML_SERVE_RESOLVED_FILE"
"""Where `python -m serve.resolve`, started by `leadml serve`, writes the first model's folder."""
