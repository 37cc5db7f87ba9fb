"""Baseline: the four tables of the scores store as they were before migrations.

Revision ID: 0001
Revises:
Create Date: 2026-12-04

The tables are written out here, frozen, not imported from `leadml.store.tables`: that
module moves on with later revisions, this one must not. A store made before migrations
(the tables, no version table) is recognised here: each existing table must have exactly
these columns (else nothing changes and the upgrade is refused), and whatever is missing,
a table or an index, is created. Rows are never touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from leadml.store.tables import StoreError

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tables() -> list[sa.Table]:
    """The baseline tables, on a private MetaData (in creation order)."""
    meta = sa.MetaData()
    batches = sa.Table(
        "score_batches",
        meta,
        sa.Column("batch_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scored_at", sa.DateTime, nullable=False, comment="UTC"),
        sa.Column("as_of", sa.DateTime, nullable=False, comment="UTC"),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("grade_mode", sa.String(16), nullable=False),
        sa.Column("n_leads", sa.Integer, nullable=False),
        sa.Column("pass_through", sa.Text, nullable=False, comment="JSON list of column names"),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False, comment="JSON: counts for the page's header"),
    )
    latest = sa.Table(
        "lead_scores",
        meta,
        sa.Column("lead_id", sa.String, primary_key=True),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("score_batches.batch_id"), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("company", sa.Text),
        sa.Column("lead_source", sa.String, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("grade", sa.String(1), nullable=False),
        sa.Column("previous_score", sa.Integer),
        sa.Column("trend", sa.String(16), nullable=False),
        sa.Column(
            "reasons", sa.Text, nullable=False, comment="JSON from leadml.batch.encode_reasons"
        ),
        sa.Column("extra", sa.Text, nullable=False, comment="JSON: pass-through columns"),
        sa.Index("ix_lead_scores_rank", "batch_id", "rank"),
        sa.Index("ix_lead_scores_grade", "batch_id", "grade", "rank"),
        sa.Index("ix_lead_scores_source", "batch_id", "lead_source", "rank"),
        sa.Index("ix_lead_scores_stage", "batch_id", "stage", "rank"),
    )
    history = sa.Table(
        "score_history",
        meta,
        sa.Column("lead_id", sa.String, primary_key=True),
        sa.Column(
            "batch_id", sa.Integer, sa.ForeignKey("score_batches.batch_id"), primary_key=True
        ),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("grade", sa.String(1), nullable=False),
    )
    facets = sa.Table(
        "score_facets",
        meta,
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("score_batches.batch_id"), nullable=False),
        sa.Column("grade", sa.String(1), nullable=False),
        sa.Column("lead_source", sa.String, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Index("ix_score_facets_batch", "batch_id"),
    )
    return [batches, latest, history, facets]


def upgrade() -> None:
    """Create the baseline tables, or adopt those a store made before migrations holds."""
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    existing = set(inspector.get_table_names())
    tables = _tables()
    for table in tables:  # check every table before changing anything
        if table.name in existing:
            _require_columns(table, {c["name"] for c in inspector.get_columns(table.name)})
    for table in tables:
        if table.name not in existing:
            table.create(bind)  # with its indexes
            continue
        have = {index["name"] for index in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in have:
                index.create(bind)


def downgrade() -> None:
    """Drop the tables (and every stored score): back to an empty database."""
    bind = op.get_bind()
    for table in reversed(_tables()):
        table.drop(bind, checkfirst=True)


def _require_columns(table: sa.Table, found: set[str]) -> None:
    expected = {column.name for column in table.columns}
    if found != expected:
        missing = ", ".join(sorted(expected - found)) or "none"
        extra = ", ".join(sorted(found - expected)) or "none"
        raise StoreError(
            f"table {table.name} is not the scores store's baseline (missing columns: "
            f"{missing}; unexpected: {extra}); nothing was changed"
        )
