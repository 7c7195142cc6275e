"""Where Prefect keeps its settings on this machine, read without importing Prefect (which loads for
flow runs only): the Prefect home and the active profile's values."""

from __future__ import annotations

import os
from pathlib import Path


def prefect_home() -> Path:
    """$PREFECT_HOME, else ~/.prefect (Prefect's default)."""
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def profile_settings() -> dict[str, str]:
    """The settings of the active Prefect profile (what ``prefect config set`` writes): profiles.toml
    under ``PREFECT_HOME`` (or ``PREFECT_PROFILES_PATH``), the profile ``PREFECT_PROFILE`` names or
    the file's active one. Read without importing Prefect; {} when there is none or it cannot be read."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: no TOML reader in the standard library
        return {}
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or prefect_home() / "profiles.toml").expanduser()
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    name = os.environ.get("PREFECT_PROFILE") or data.get("active")
    profile = data.get("profiles", {}).get(name) if name else None
    return {str(k): str(v) for k, v in profile.items()} if isinstance(profile, dict) else {}
