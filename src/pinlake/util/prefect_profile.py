"""Where Prefect keeps its settings on this machine, read without importing Prefect (which loads for
flow runs only): the Prefect home, and the values a user set below the environment.

Prefect ranks its sources: environment variables, then ``.env``, ``prefect.toml`` and
``pyproject.toml``'s ``[tool.prefect]`` in the working directory, then the active profile.
:func:`user_settings` reads the four files in that order, so a default pinlake would put in the
environment can give way to any of them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def prefect_home() -> Path:
    """$PREFECT_HOME, else ~/.prefect (Prefect's default)."""
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's data; {} when it is missing, unreadable, or Python has no TOML reader (3.10)."""
    try:
        import tomllib
    except ModuleNotFoundError:
        return {}
    try:
        return tomllib.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def flat_names(table: Mapping[str, Any], prefix: str = "PREFECT") -> dict[str, str]:
    """A Prefect TOML table by setting name: ``[server.ephemeral] startup_timeout_seconds = 300``
    is ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``."""
    out: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}_{key}".upper()
        if isinstance(value, Mapping):
            out.update(flat_names(value, name))
        else:
            out[name] = str(value)
    return out


def dotenv_settings(path: Path) -> dict[str, str]:
    """The ``PREFECT_*`` lines of a ``.env`` file, read as Prefect reads it (python-dotenv, which
    Prefect's settings require); {} when there is none."""
    if not path.is_file():
        return {}
    try:
        from dotenv import dotenv_values
    except ModuleNotFoundError:
        return {}
    values = dotenv_values(path)
    return {k.upper(): v for k, v in values.items() if k.upper().startswith("PREFECT_") and v is not None}


def profile_settings(profiles_path: str | None = None) -> dict[str, str]:
    """The settings of the active Prefect profile (what ``prefect config set`` writes): profiles.toml
    at ``profiles_path``, else ``PREFECT_PROFILES_PATH``, else under the Prefect home; the profile
    ``PREFECT_PROFILE`` names or the file's active one. {} when there is none or it cannot be read."""
    path = Path(profiles_path or os.environ.get("PREFECT_PROFILES_PATH") or prefect_home() / "profiles.toml")
    data = read_toml(path.expanduser())
    name = os.environ.get("PREFECT_PROFILE") or data.get("active")
    profile = data.get("profiles", {}).get(name) if name else None
    return {str(k): str(v) for k, v in profile.items()} if isinstance(profile, dict) else {}


def user_settings(cwd: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The ``PREFECT_*`` settings a user set outside the environment, by name, each from the source
    Prefect ranks highest (:func:`user_settings_where`)."""
    return {name: value for name, (value, _) in user_settings_where(cwd).items()}


def user_settings_where(cwd: str | os.PathLike[str] | None = None) -> dict[str, tuple[str, str]]:
    """The ``PREFECT_*`` settings a user set outside the environment, by name, as (value, where):
    ``.env``, then ``prefect.toml``, then ``pyproject.toml``'s ``[tool.prefect]`` in ``cwd``
    (default: the working directory), then the active profile (whose file any of those may name with
    ``profiles_path``); the first that holds a name wins, as in Prefect."""
    here = Path(cwd or ".")
    dotenv = dotenv_settings(here / ".env")
    toml = flat_names(read_toml(here / "prefect.toml"))
    pyproject = flat_names(read_toml(here / "pyproject.toml").get("tool", {}).get("prefect", {}))
    profiles_path = next(
        (s["PREFECT_PROFILES_PATH"] for s in (dotenv, toml, pyproject) if "PREFECT_PROFILES_PATH" in s),
        None,
    )
    if os.environ.get("PREFECT_PROFILES_PATH"):
        profiles_path = None  # the environment's, read by profile_settings
    found: dict[str, tuple[str, str]] = {}
    for where, values in (
        (".env", dotenv),
        ("prefect.toml", toml),
        ("pyproject.toml [tool.prefect]", pyproject),
        ("the active Prefect profile", profile_settings(profiles_path)),
    ):
        for name, value in values.items():
            found.setdefault(name, (value, where))
    return found
