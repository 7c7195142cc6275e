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
from typing import Any, NamedTuple


def prefect_home() -> Path:
    """Prefect's home: $PREFECT_HOME, else a ``PREFECT_HOME`` (``home``) in ``.env``, ``prefect.toml``
    or ``pyproject.toml``, else ~/.prefect (Prefect's default)."""
    home = os.environ.get("PREFECT_HOME") or file_settings().get("PREFECT_HOME")
    return Path(home or Path.home() / ".prefect").expanduser()


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
    is ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``. Keys with capitals are left out: Prefect
    matches TOML keys to its lower-case field names exactly."""
    out: dict[str, str] = {}
    for key, value in table.items():
        if key != key.lower():
            continue
        name = f"{prefix}_{key}".upper()
        if isinstance(value, Mapping):
            out.update(flat_names(value, name))
        else:
            out[name] = str(value)
    return out


def dotenv_lines(path: Path) -> dict[str, str]:
    """A ``.env`` file's lines as written, read as Prefect reads it (python-dotenv, which Prefect's
    settings require); {} when there is none."""
    if not path.is_file():
        return {}
    try:
        from dotenv import dotenv_values
    except ModuleNotFoundError:
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


class SettingsFiles(NamedTuple):
    """The three settings files of a working directory, each read once: ``.env``'s lines as written,
    ``prefect.toml``'s data and ``pyproject.toml``'s ``[tool.prefect]`` table ({} when absent)."""

    dotenv: dict[str, str]
    toml: dict[str, Any]
    pyproject: Mapping[str, Any]


def read_files(cwd: str | os.PathLike[str] | None = None) -> SettingsFiles:
    """:class:`SettingsFiles` of ``cwd`` (default: the working directory)."""
    here = Path(cwd or ".")
    tool = read_toml(here / "pyproject.toml").get("tool", {})
    table = tool.get("prefect", {}) if isinstance(tool, Mapping) else {}
    return SettingsFiles(dotenv_lines(here / ".env"), read_toml(here / "prefect.toml"), table if isinstance(table, Mapping) else {})


def file_settings(cwd: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The ``PREFECT_*`` settings of ``.env``, ``prefect.toml`` and ``pyproject.toml``'s
    ``[tool.prefect]`` in ``cwd`` (default: the working directory), the first that holds a name
    winning; ``.env`` names in any case, as Prefect reads them."""
    return {name: value for name, (value, _) in file_settings_where(cwd).items()}


def file_settings_where(cwd: str | os.PathLike[str] | None = None, files: SettingsFiles | None = None) -> dict[str, tuple[str, str]]:
    """:func:`file_settings` as (value, the file that holds it); ``files``: those already read."""
    files = files or read_files(cwd)
    dotenv = {k.upper(): v for k, v in files.dotenv.items() if k.upper().startswith("PREFECT_")}
    found: dict[str, tuple[str, str]] = {}
    for where, values in (
        (".env", dotenv),
        ("prefect.toml", flat_names(files.toml)),
        ("pyproject.toml [tool.prefect]", flat_names(files.pyproject)),
    ):
        for name, value in values.items():
            found.setdefault(name, (value, where))
    return found


def profiles_path(cwd: str | os.PathLike[str] | None = None, files: SettingsFiles | None = None) -> Path:
    """Where Prefect reads its profiles: $PREFECT_PROFILES_PATH, else ``PREFECT_PROFILES_PATH`` in
    ``.env`` (exactly so written), else ``profiles_path`` in ``prefect.toml``, then in
    ``pyproject.toml``'s ``[tool.prefect]``, else profiles.toml under $PREFECT_HOME or ~/.prefect
    (a home set in a file does not move the profiles, in Prefect); ``files``: those already read."""
    if given := os.environ.get("PREFECT_PROFILES_PATH"):
        return Path(given).expanduser()
    files = files or read_files(cwd)
    given = files.dotenv.get("PREFECT_PROFILES_PATH") or files.toml.get("profiles_path") or files.pyproject.get("profiles_path")
    if given:
        return Path(str(given)).expanduser()
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser() / "profiles.toml"


def profile_settings(path: Path | None = None) -> dict[str, str]:
    """The settings of the active Prefect profile (what ``prefect config set`` writes): the profiles
    file at ``path`` (default: :func:`profiles_path`), the profile ``PREFECT_PROFILE`` names or the
    file's active one. {} when there is none or it cannot be read."""
    data = read_toml(path or profiles_path())
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
    (default: the working directory), then the active profile; the first that holds a name wins,
    as in Prefect."""
    files = read_files(cwd)
    found = file_settings_where(files=files)
    for name, value in profile_settings(profiles_path(files=files)).items():
        found.setdefault(name, (value, "the active Prefect profile"))
    return found
