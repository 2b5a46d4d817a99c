"""Tables of the browsing nudges' server side: aggregated outcome counts and site reports.

Nothing here names an employee or a device next to a site or an outcome: the counts are per
(UTC day, category, country, outcome) over the whole fleet, and miscategorisation reports are
per (host, category) with how often they came. `nudge_event_receipts` remembers which agent
events were already counted, so a re-sent event never counts twice (see
`server.storage.nudge_stats`). Registered on `Base` by `server.storage.models`.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.base import Base

UNKNOWN_COUNTRY = ""  # in a key column NULL would never conflict, so "unknown" is ''


class NudgeOutcomeCount(Base):
    """How many nudges had `outcome`, per UTC day (of the agent's batch), category, country."""

    __tablename__ = "nudge_outcome_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    country: Mapped[str] = mapped_column(String(2), primary_key=True)  # '' = unknown
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class NudgeMiscategorisation(Base):
    """Sites employees explicitly reported as wrongly categorised, counted per report."""

    __tablename__ = "nudge_miscategorisations"

    host: Mapped[str] = mapped_column(String(253), primary_key=True)
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    reports: Mapped[int] = mapped_column(Integer)
    first_reported_at: Mapped[datetime]
    last_reported_at: Mapped[datetime]


class NudgeEventReceipt(Base):
    """An agent event already counted in the tables above (idempotency of the aggregates)."""

    __tablename__ = "nudge_event_receipts"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    received_at: Mapped[datetime]
