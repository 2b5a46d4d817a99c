"""Browsing nudges: per-day outcome counts, miscategorisation reports, counted-event receipts
(issue 7).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 22:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Column types as the models declare them (server.storage.base), spelled out so this
# revision never changes when the models do.
UTC = sa.DateTime(timezone=True)

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nudge_outcome_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "category", "country", "outcome",
                                name=op.f("pk_nudge_outcome_counts")),
    )
    op.create_table(
        "nudge_miscategorisations",
        sa.Column("host", sa.String(length=253), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("first_reported_at", UTC, nullable=False),
        sa.Column("last_reported_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("host", "category", name=op.f("pk_nudge_miscategorisations")),
    )
    op.create_table(
        "nudge_event_receipts",
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"],
                                name=op.f("fk_nudge_event_receipts_device_id_devices")),
        sa.PrimaryKeyConstraint("device_id", "event_id", name=op.f("pk_nudge_event_receipts")),
    )


def downgrade() -> None:
    op.drop_table("nudge_event_receipts")
    op.drop_table("nudge_miscategorisations")
    op.drop_table("nudge_outcome_counts")
