"""The rule bundle: one signed document that tells every agent what to do.

A bundle is immutable once built (frozen models, tuples). Unknown keys are errors everywhere
(`extra="forbid"`), so a misspelt setting is reported instead of silently falling back to its
default. Load bundles with `rules.loader` to get `path: reason` errors; `docs/rules.md`
describes every field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from rules.categories import MAX_CATEGORIES
from rules.types import (
    CategoryName,
    CountryCode,
    CountryOrKeyword,
    Domain,
    FolderText,
    ListRef,
    MessageTemplate,
    StrictFloat,
    StrictInt,
    UtcDatetime,
)

SCHEMA_VERSION = 1
CROSS_FIELD_ERROR = "cross_field"
SEAL_IDLE_CAP_SECONDS = 900
Detector = Literal["new_country", "impossible_travel", "anonymizer", "failure_burst",
                   "away_from_device"]
DETECTORS: tuple[Detector, ...] = ("new_country", "impossible_travel", "anonymizer",
                                   "failure_burst", "away_from_device")


def cross_field_error(problems: list[tuple[str, str]]) -> PydanticCustomError:
    """An error for checks spanning several fields, carrying precise (path, reason) pairs.

    Paths are relative to the model raising it; `rules.validation` expands them.
    """
    text = "; ".join(f"{path}: {reason}" for path, reason in problems)
    return PydanticCustomError(CROSS_FIELD_ERROR, text, {"problems": problems})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Category(_Strict):
    """A named set of domains (inline and/or from list files) with human texts."""

    title: str = Field(default="", description="Display name in messages; defaults to the name.")
    description: str = ""
    domains: tuple[Domain, ...] = ()
    lists: tuple[ListRef, ...] = Field(
        default=(), description="List files, relative to the bundle file; inlined when resolved.")
    reasons: dict[CountryCode, str] = Field(
        default_factory=dict,
        description="Per-country reason shown in nudges, e.g. why it is unlawful there.")


class NudgeRule(_Strict):
    """When to nudge: categories, where the laptop is, what to say, and how often at most."""

    name: str = ""
    categories: tuple[CategoryName, ...] = Field(min_length=1)
    countries: tuple[CountryOrKeyword, ...] = ("any",)
    messages: tuple[MessageTemplate, ...] = Field(min_length=1)
    cooldown_minutes: StrictInt = Field(default=60, ge=0, le=7 * 24 * 60)
    daily_cap: StrictInt = Field(default=3, ge=1, le=1000)
    heed_window_minutes: StrictInt = Field(default=10, ge=1, le=24 * 60)

    @field_validator("countries", mode="before")
    @classmethod
    def _one_word_is_a_list(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("countries")
    @classmethod
    def _keywords_alone(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one country, or write 'any'")
        keywords = [v for v in value if v in ("any", "outside_home")]
        if keywords and len(value) > 1:
            raise ValueError(f"'{keywords[0]}' cannot be combined with other entries")
        return tuple(dict.fromkeys(value))

    @field_serializer("countries")
    def _keyword_as_word(self, value: tuple[str, ...]) -> str | list[str]:
        return value[0] if value[0] in ("any", "outside_home") else list(value)


class SealSettings(_Strict):
    """Sealing on idle: when, which folders, what happens on return, what is reported."""

    idle_threshold_seconds: StrictInt = Field(default=300, ge=30)
    protected_folders: tuple[FolderText, ...] = ("~/Sensitive", "Downloads")
    seal_on_lock: bool = Field(default=True, strict=True)
    seal_before_sleep: bool = Field(default=True, strict=True)
    unseal_on_return: bool = Field(
        default=True, strict=True,
        description="Unseal an away period's files when the employee returns; false keeps "
                    "them sealed until the employee unseals them (tray or `unseal-now`).")
    report_paths: bool = Field(
        default=False, strict=True,
        description="Send the paths of pending (exposed) files, relative to their protected "
                    "folder, in check-ins and seal events; counts are always sent.")

    @field_validator("idle_threshold_seconds")
    @classmethod
    def _policy_cap(cls, value: int) -> int:
        if value > SEAL_IDLE_CAP_SECONDS:
            raise ValueError(f"{value} exceeds the policy cap of {SEAL_IDLE_CAP_SECONDS} seconds")
        return value


class LoginAlertSettings(_Strict):
    """Thresholds of the sign-in detectors and which of them notify the employee."""

    impossible_travel_speed_kmh: StrictFloat = Field(default=900.0, gt=0)
    min_distance_km: StrictFloat = Field(default=500.0, ge=0)
    learning_days: StrictInt = Field(default=14, ge=0, le=365)
    learning_sign_ins: StrictInt = Field(default=10, ge=0, le=10_000)
    notify: tuple[Detector, ...] = DETECTORS

    @field_validator("notify")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))


class CheckinSettings(_Strict):
    """How often agents check in; agents never go below `minimum_seconds`."""

    interval_seconds: StrictInt = Field(default=60, ge=5, le=3600)
    minimum_seconds: StrictInt = Field(default=15, ge=5, le=3600)

    @model_validator(mode="after")
    def _interval_above_minimum(self) -> CheckinSettings:
        if self.interval_seconds < self.minimum_seconds:
            raise cross_field_error([("interval_seconds",
                                      f"{self.interval_seconds} is below minimum_seconds "
                                      f"({self.minimum_seconds})")])
        return self


class Bundle(_Strict):
    """The whole rule bundle. `schema` (field `schema_version`) is the format version."""

    schema_version: Literal[1] = Field(default=1, alias="schema")
    version: StrictInt = Field(ge=1)
    issued_at: UtcDatetime | None = None
    expires_at: UtcDatetime | None = None
    categories: dict[CategoryName, Category] = Field(default_factory=dict)
    nudges: tuple[NudgeRule, ...] = ()
    # Shared default instances are safe: the models are frozen.
    seal: SealSettings = SealSettings()
    login_alerts: LoginAlertSettings = LoginAlertSettings()
    checkin: CheckinSettings = CheckinSettings()

    @model_validator(mode="after")
    def _cross_references(self) -> Bundle:
        problems = []
        if len(self.categories) > MAX_CATEGORIES:
            problems.append(("categories", f"{len(self.categories)} categories; at most "
                                           f"{MAX_CATEGORIES} are supported"))
        for i, rule in enumerate(self.nudges):
            for j, name in enumerate(rule.categories):
                if name not in self.categories:
                    problems.append((f"nudges[{i}].categories[{j}]", f"unknown category {name!r}"))
        if self.issued_at and self.expires_at and self.expires_at <= self.issued_at:
            problems.append(("expires_at", "must be later than issued_at"))
        if problems:
            raise cross_field_error(problems)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (aliases, RFC 3339 datetimes): what is signed and shipped."""
        return self.model_dump(mode="json", by_alias=True)

    def is_resolved(self) -> bool:
        """True when no category still refers to list files (the form agents receive)."""
        return not any(c.lists for c in self.categories.values())

    def domain_count(self) -> int:
        """Number of inline domain entries across all categories."""
        return sum(len(c.domains) for c in self.categories.values())
