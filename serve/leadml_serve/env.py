"""The environment variable `leadml serve` sets for its workers.

Kept in a module with no heavy imports, so the serving CLI can set it before it loads
the model stack (prometheus_client reads its variable at import).
"""

from __future__ import annotations

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's folder for metrics shared by several worker processes."""
