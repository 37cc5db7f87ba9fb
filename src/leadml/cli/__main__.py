"""`python -m leadml.cli`: points to the real entry points and exits 2.

The full app (with `serve` and `keys`) is assembled in `leadml_serve.cli`, the composition
root; the core never imports leadml_serve, so it cannot run that app from here."""

from __future__ import annotations

import sys

USAGE = (
    "run the `leadml` command, or `python -m leadml_serve.cli`, instead of `python -m leadml.cli`"
)


def main() -> int:
    """Say where the command line lives; 2 is the usage-error exit code."""
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
