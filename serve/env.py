"""Environment variables `leadml serve` sets for its helpers.

Kept in a module with no heavy imports, so the serving CLI can set them before it loads
the model stack (prometheus_client reads its variable at import).
"""

from __future__ import annotations

CONFIG_ENV = "LEADML_SERVE_CONFIG"
"""The final Config as JSON, for the registry lookup subprocess (serve.resolve)."""
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's folder for metrics shared by several worker processes."""
