"""What a registry entry's ``checks:`` key may hold, validated when the registry loads.

Light on purpose: the registry (and with it the no-op refresh) imports this module, so it loads
pydantic only. DuckDB loads only to parse the queries of an entry that declares ``sql`` checks. The
checks themselves run in :mod:`pinlake.datasets.checks`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator, model_validator

from pinlake.errors import InvalidQueryError
from pinlake.util.readonly_sql import check_read_only

#: the built-in checks, in the order they run and report
BUILTIN_CHECKS = (
    "min_items",
    "no_empty_split",
    "no_split_leakage",
    "no_duplicate_items",
    "boxes_inside_images",
    "categories",
    "max_row_change",
    "max_category_drift",
)
#: every key of ``checks:`` (``sql`` holds named queries, ``warn`` the checks that report without blocking)
CHECK_KEYS = (*BUILTIN_CHECKS, "sql", "warn")
#: the checks compared against a baseline version (skipped when there is none)
DRIFT_CHECKS = ("max_row_change", "max_category_drift")

#: the keys of one SQL check
SQL_CHECK_KEYS = ("name", "query", "expect")


class SqlCheck(BaseModel):
    """``{name, query, expect}``: the read-only DuckDB ``query`` over the candidate's tables returns one value, equal to ``expect``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str
    query: str
    #: the value the query must return: a number, a string, true/false or null
    expect: Any = 0

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or not v.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"{v!r}: a check name uses letters, digits, '_' and '-'")
        if v in CHECK_KEYS:
            raise ValueError(f"{v!r} is the name of a built-in check; pick another")
        return v

    @field_validator("expect")
    @classmethod
    def _scalar(cls, v: Any) -> Any:
        if v is not None and not isinstance(v, (bool, int, float, str)):
            raise ValueError(f"{v!r}: expect one value (a number, a string, true/false or null), not a {type(v).__name__}")
        return v

    @field_validator("query")
    @classmethod
    def _read_only(cls, v: str) -> str:
        try:
            check_read_only(v, what="an SQL check")
        except InvalidQueryError as exc:
            raise ValueError(" ".join(w for w in exc.message.split() if set(w) != {"^"})) from None
        return v


class ChecksConfig(BaseModel):
    """The ``checks:`` of a registry entry. Every key is optional; a check runs only when its key is set."""

    model_config = ConfigDict(extra="forbid", strict=True)

    #: items in the whole dataset (an int) or per split (``{train: 10, test: 2}``)
    min_items: StrictInt | dict[str, StrictInt] | None = None
    no_empty_split: StrictBool = False
    no_split_leakage: StrictBool = False
    no_duplicate_items: StrictBool = False
    boxes_inside_images: StrictBool = False
    #: allowed categories of every entity table with a ``category`` column; ``true``: the baseline's
    categories: list[StrictStr] | StrictBool | None = None
    #: per table, ``|rows(new) - rows(baseline)| / rows(baseline)`` at most this
    max_row_change: float | None = Field(default=None, ge=0)
    #: total variation distance of the category shares vs the baseline, at most this (0..1)
    max_category_drift: float | None = Field(default=None, ge=0, le=1)
    sql: list[SqlCheck] = Field(default_factory=list)
    #: checks whose failure is reported as "warn" and does not block (declared ones or Python checks)
    warn: list[StrictStr] = Field(default_factory=list)

    @field_validator("min_items")
    @classmethod
    def _min_items(cls, v: int | dict[str, int] | None) -> int | dict[str, int] | None:
        values = v.values() if isinstance(v, dict) else [] if v is None else [v]
        if any(n < 0 for n in values):
            raise ValueError(f"{v!r}: item counts must be >= 0")
        return v

    @model_validator(mode="after")
    def _names(self) -> ChecksConfig:
        names = [s.name for s in self.sql]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"sql: duplicate check name(s) {', '.join(dup)}")
        # a built-in check (or another key) under warn: must be declared; any other name may be a
        # Python check of the recipe file (@pinlake.check), known only once the file is imported:
        # pinlake.library.check validates those names when the checks run
        enabled = self.enabled()
        unknown = [w for w in self.warn if w in CHECK_KEYS and w not in enabled]
        if unknown:
            raise ValueError(f"warn: {', '.join(map(repr, unknown))} is not a declared check (declared: {', '.join(enabled) or 'none'})")
        return self

    def enabled(self) -> list[str]:
        """The names of the checks this config runs, in order (built-ins, then the SQL checks)."""
        out = []
        for key in BUILTIN_CHECKS:
            value = getattr(self, key)
            if value is not None and value is not False:
                out.append(key)
        return out + [s.name for s in self.sql]

    def undeclared_warn(self) -> list[str]:
        """The names under ``warn:`` that no declared check has: Python checks of the recipe file, or mistakes."""
        enabled = self.enabled()
        return [w for w in self.warn if w not in enabled]

    def __bool__(self) -> bool:
        return bool(self.enabled())


def checks_config(raw: dict[str, Any] | ChecksConfig | None) -> ChecksConfig:
    """A :class:`ChecksConfig` from a dict (as in the yaml) or one already validated."""
    if isinstance(raw, ChecksConfig):
        return raw
    return ChecksConfig.model_validate(raw or {})


__all__ = ["BUILTIN_CHECKS", "CHECK_KEYS", "SQL_CHECK_KEYS", "DRIFT_CHECKS", "SqlCheck", "ChecksConfig", "checks_config"]
