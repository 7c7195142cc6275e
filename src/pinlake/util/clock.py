"""The one clock of pinlake's rows and version entries: naive UTC datetimes (no pydantic import)."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


__all__ = ["utcnow"]
