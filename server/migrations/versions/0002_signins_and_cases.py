"""Sign-ins with place, flags and answers; known places and device locations for the
detectors; connector cursors; help-desk cases (issue 4).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 21:34:18.304087
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Column types as the models declare them (server.storage.base), spelled out so this
# revision never changes when the models do.
UTC = sa.DateTime(timezone=True)
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connector_cursors",
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_connector_cursors")),
    )
    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counters")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("resolution", sa.String(length=32), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("opened_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("first_response_at", UTC, nullable=True),
        sa.Column("resolved_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["console_users.id"], name=op.f("fk_cases_assignee_id_console_users")
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"], ["employees.id"], name=op.f("fk_cases_employee_id_employees")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("number", name=op.f("uq_cases_number")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_employee_id"), ["employee_id"], unique=False)
        batch_op.create_index("ix_cases_state_created", ["state", "created_at"], unique=False)

    op.create_table(
        "known_places",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("place_key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=True),
        sa.Column("country_name", sa.String(length=100), nullable=True),
        sa.Column("city", sa.String(length=200), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("accuracy_radius_km", sa.Float(), nullable=True),
        sa.Column("asn", sa.BigInteger(), nullable=True),
        sa.Column("signin_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["employees.id"],
            name=op.f("fk_known_places_employee_id_employees"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_places")),
        sa.UniqueConstraint("employee_id", "place_key", name="uq_known_places_employee_key"),
    )
    op.create_table(
        "signins",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=True),
        sa.Column("identity", sa.String(length=320), nullable=False),
        sa.Column("occurred_at", UTC, nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("source_system", sa.String(length=16), nullable=False),
        sa.Column("source_event_id", sa.String(length=200), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("application", sa.String(length=300), nullable=True),
        sa.Column("client", sa.String(length=500), nullable=True),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("failure_reason", sa.String(length=300), nullable=True),
        sa.Column("place_kind", sa.String(length=8), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=True),
        sa.Column("country_name", sa.String(length=100), nullable=True),
        sa.Column("city", sa.String(length=200), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("accuracy_radius_km", sa.Float(), nullable=True),
        sa.Column("asn", sa.BigInteger(), nullable=True),
        sa.Column("network_org", sa.String(length=200), nullable=True),
        sa.Column("is_anonymizer", sa.Boolean(), nullable=False),
        sa.Column("is_hosting", sa.Boolean(), nullable=False),
        sa.Column("vendor_geo", JSON_TYPE, nullable=True),
        sa.Column("flag_count", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["employee_id"], ["employees.id"], name=op.f("fk_signins_employee_id_employees")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signins")),
        sa.UniqueConstraint("source_system", "source_event_id", name="uq_signins_source_event"),
    )
    with op.batch_alter_table("signins", schema=None) as batch_op:
        batch_op.create_index(
            "ix_signins_employee_time",
            ["employee_id", sa.literal_column("occurred_at DESC"), sa.literal_column("id DESC")],
            unique=False,
        )
        batch_op.create_index("ix_signins_occurred_at", ["occurred_at"], unique=False)

    op.create_table(
        "case_notes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_notes_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_notes")),
    )
    with op.batch_alter_table("case_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_notes_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_signins",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("signin_id", BIG_ID, nullable=False),
        sa.Column("answer", sa.String(length=16), nullable=False),
        sa.Column("added_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_signins_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["signin_id"],
            ["signins.id"],
            name=op.f("fk_case_signins_signin_id_signins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", "signin_id", name=op.f("pk_case_signins")),
    )
    with op.batch_alter_table("case_signins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_signins_signin_id"), ["signin_id"], unique=False)

    op.create_table(
        "device_locations",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("window_start", UTC, nullable=False),
        sa.Column("seen_at", UTC, nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("place_kind", sa.String(length=8), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=True),
        sa.Column("country_name", sa.String(length=100), nullable=True),
        sa.Column("city", sa.String(length=200), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("accuracy_radius_km", sa.Float(), nullable=True),
        sa.Column("is_anonymizer", sa.Boolean(), nullable=False),
        sa.Column("is_hosting", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_locations_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["employees.id"],
            name=op.f("fk_device_locations_employee_id_employees"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_locations")),
        sa.UniqueConstraint("device_id", "window_start", "ip", name="uq_device_locations_window"),
    )
    with op.batch_alter_table("device_locations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_device_locations_employee_seen", ["employee_id", "seen_at"], unique=False
        )

    op.create_table(
        "signin_answers",
        sa.Column("signin_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("answer", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", UTC, nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["employee_id"], ["employees.id"], name=op.f("fk_signin_answers_employee_id_employees")
        ),
        sa.ForeignKeyConstraint(
            ["signin_id"],
            ["signins.id"],
            name=op.f("fk_signin_answers_signin_id_signins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("signin_id", name=op.f("pk_signin_answers")),
    )
    op.create_table(
        "signin_flags",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("signin_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", JSON_TYPE, nullable=False),
        sa.ForeignKeyConstraint(
            ["signin_id"],
            ["signins.id"],
            name=op.f("fk_signin_flags_signin_id_signins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signin_flags")),
    )
    with op.batch_alter_table("signin_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signin_flags_signin_id"), ["signin_id"], unique=False)

    counters = sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.BigInteger))
    op.bulk_insert(counters, [{"name": "case_number", "value": 0}])


def downgrade() -> None:
    with op.batch_alter_table("signin_flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signin_flags_signin_id"))

    op.drop_table("signin_flags")
    op.drop_table("signin_answers")
    with op.batch_alter_table("device_locations", schema=None) as batch_op:
        batch_op.drop_index("ix_device_locations_employee_seen")

    op.drop_table("device_locations")
    with op.batch_alter_table("case_signins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_signins_signin_id"))

    op.drop_table("case_signins")
    with op.batch_alter_table("case_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_notes_case_id"))

    op.drop_table("case_notes")
    with op.batch_alter_table("signins", schema=None) as batch_op:
        batch_op.drop_index("ix_signins_occurred_at")
        batch_op.drop_index("ix_signins_employee_time")

    op.drop_table("signins")
    op.drop_table("known_places")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_state_created")
        batch_op.drop_index(batch_op.f("ix_cases_employee_id"))

    op.drop_table("cases")
    op.drop_table("counters")
    op.drop_table("connector_cursors")
