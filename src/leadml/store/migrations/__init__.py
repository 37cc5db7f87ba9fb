"""Alembic migrations of the scores store; run them with `leadml store upgrade`.

A package only so that the wheel ships it: Alembic loads `env.py` and `versions/` by path.
"""
