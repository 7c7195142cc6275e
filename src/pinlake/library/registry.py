"""The recipe registry ``recipes/datasets.yaml``: one entry per published dataset.

Entries carry the VxPlatform keys (name, version, description, script_location relative to the
yaml) plus pinlake's own: schedule (5-field cron), builder, dataset_item, splits, retention, runner and
dask_address (where its builds run), channel (the tag a passing refresh moves) and checks (the quality
checks of :mod:`pinlake.datasets.check_spec`, validated here: a bad check stops the load).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from pinlake.datasets.check_spec import CHECK_KEYS, SQL_CHECK_KEYS, ChecksConfig
from pinlake.errors import InputFileError, NotFoundError, ValidationError
from pinlake.layout import DATASET_NAME_RE

CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?]+$")
RETENTION = re.compile(r"^\d+[smhdw]$")
BUILDERS = ("lock",)
RUNNERS = ("local", "dask")
#: channel names that mean something else in a pin (``name@latest`` is the newest version)
RESERVED_CHANNELS = ("latest",)
CHANNEL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")
#: the item class of an entry (and of a lock build) that names none: a spec, loaded on use
DEFAULT_ITEM = "pinlake.demo.data:HealthDatasetItem"


def channel_name_problem(name: str) -> str:
    """Why ``name`` cannot be a channel ("" when it can): a version number, a reserved word, or not
    a plain name (a channel is also a Lance tag on every table)."""
    if name.isdigit():
        return f"{name!r} collides with a version number; a channel is a name like 'prod'"
    if name.lower() in RESERVED_CHANNELS or name.startswith(("lock-", "lock:", "pinlake-")):
        return f"{name!r} is reserved (latest, lock-…, pinlake-…); pick a name like 'prod'"
    if not CHANNEL_RE.match(name):
        return f"{name!r}: a channel starts with a letter, then letters, digits, '_', '-', '.'"
    return ""


class RegistryEntry(BaseModel):
    """One dataset of the registry."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: int | str = 1
    description: str = ""
    script_location: str
    schedule: str | None = None
    builder: str = "lock"
    dataset_item: str = DEFAULT_ITEM
    splits: list[str] | None = None
    retention: str | None = None
    tags: list[str] = Field(default_factory=list)
    #: where its builds run: "local" or "dask" (then on the scheduler at dask_address)
    runner: str = "local"
    dask_address: str | None = None
    #: the tag a passing refresh moves (e.g. "prod"); None: no gate
    channel: str | None = None
    #: quality checks (see pinlake.datasets.check_spec); None: none declared
    checks: ChecksConfig | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not DATASET_NAME_RE.match(v):
            raise ValueError("use letters, digits, '_', '-', '.' (not starting with '_')")
        return v

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = v.split()
        if len(parts) != 5 or not all(CRON_FIELD.match(p) for p in parts):
            raise ValueError(f"{v!r} is not a 5-field cron string (minute hour day month weekday, e.g. '0 3 * * *')")
        return " ".join(parts)

    @field_validator("builder")
    @classmethod
    def _builder(cls, v: str) -> str:
        if v not in BUILDERS:
            raise ValueError(f"{v!r} is not a known builder ({', '.join(BUILDERS)})")
        return v

    @field_validator("runner")
    @classmethod
    def _runner(cls, v: str) -> str:
        if v not in RUNNERS:
            raise ValueError(f"{v!r} is not a known runner ({', '.join(RUNNERS)})")
        return v

    @field_validator("dataset_item")
    @classmethod
    def _item(cls, v: str) -> str:
        if ":" not in v:
            raise ValueError(f"{v!r}: expected 'module:Class' or 'file.py:Class'")
        return v

    @field_validator("retention")
    @classmethod
    def _retention(cls, v: str | None) -> str | None:
        if v is not None and not RETENTION.match(v):
            raise ValueError(f"{v!r}: expected a duration like '30d', '12h' or '4w' (units s, m, h, d, w)")
        return v

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str | None) -> str | None:
        if v is not None and (problem := channel_name_problem(v)):
            raise ValueError(problem)
        return v

    def script_path(self, registry_dir: Path) -> Path:
        return (registry_dir / self.script_location).resolve()

    def gate_hash(self) -> str:
        """What the entry's publish verdicts depend on, its channel and checks, as a short hash (a
        change asks for a new audit of a quarantined version)."""
        checks = self.checks.model_dump(mode="json", exclude_defaults=True) if self.checks is not None else None
        text = json.dumps({"channel": self.channel, "checks": checks}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _entry(raw: Any, where: str) -> RegistryEntry:
    if not isinstance(raw, dict):
        raise InputFileError(f"{where}: must be a mapping with name, version, description, script_location")
    label = f"{where} ({raw.get('name')!r})" if raw.get("name") else where
    try:
        return RegistryEntry.model_validate(raw)
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        loc = _error_loc(err["loc"])
        key = ".".join(str(p) for p in loc) or "?"
        msg = " ".join(err["msg"].removeprefix("Value error, ").split())
        if err["type"] == "extra_forbidden":
            known = (
                RegistryEntry.model_fields if len(loc) == 1 else CHECK_KEYS if loc[:1] == ("checks",) and len(loc) == 2 else SQL_CHECK_KEYS
            )
            msg = f"unknown key (known: {', '.join(known)})"
        if loc[:1] in (("checks",), ("channel",)):
            raise ValidationError(
                f"{label}: key {key!r}: {msg}", hint=f"Fix the entry's {loc[0]} in the registry yaml (see docs/checks.md); nothing ran."
            ) from None
        raise InputFileError(f"{label}: key {key!r}: {msg}", hint="Fix the entry in the registry yaml.") from None


def _error_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Pydantic's error location without the union-branch labels it adds (``min_items.int`` →
    ``min_items``): the yaml keys only."""
    out: list[int | str] = []
    for part in loc:
        if isinstance(part, str) and out and (part in ("int", "float", "str", "bool", "list[str]", "dict[str,int]") or "[" in part):
            continue
        out.append(part)
    return tuple(out)


class Registry:
    """``datasets.yaml`` loaded and validated (a list of entries)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.entries: list[RegistryEntry] = []
        if not self.path.is_file():
            raise NotFoundError(
                f"registry {self.path} does not exist", hint="Create it with `pinlake datasets register --file RECIPE.py --name NAME`."
            )
        try:
            raw = yaml.safe_load(self.path.read_text()) or []
        except yaml.YAMLError as exc:
            raise InputFileError(f"{self.path}: invalid YAML ({exc})") from None
        if isinstance(raw, dict) and "datasets" in raw:
            raw = raw["datasets"] or []
        if not isinstance(raw, list):
            raise InputFileError(f"{self.path}: expected a list of entries", hint="Each entry: '- name: ...'.")
        seen: set[str] = set()
        for i, item in enumerate(raw):
            entry = _entry(item, f"{self.path} entry {i + 1}")
            if entry.name in seen:
                raise InputFileError(f"{self.path} entry {i + 1} ({entry.name!r}): key 'name': duplicate name")
            seen.add(entry.name)
            self.entries.append(entry)

    @property
    def root(self) -> Path:
        return self.path.parent

    def get(self, name: str) -> RegistryEntry:
        for e in self.entries:
            if e.name == name:
                return e
        raise NotFoundError(f"no entry {name!r} in {self.path}", hint=f"Entries: {', '.join(e.name for e in self.entries) or 'none'}.")

    def script(self, entry: RegistryEntry) -> Path:
        return entry.script_path(self.root)

    def check(self, entry: RegistryEntry) -> None:
        check_entry(entry, self.root, f"{self.path} entry {entry.name!r}")

    def __iter__(self) -> Iterator[RegistryEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


def resolve_item(spec: str, base: Path) -> type:
    """``module:Class`` or ``file.py:Class`` (relative to ``base``) → the DatasetItem class."""
    # lazy: the item models (pydantic, every schema group) are not needed by the no-op refresh
    from pinlake.datasets.dataset_item import load_dataset_item

    target, name = spec.rsplit(":", 1)
    if target.endswith(".py") and not Path(target).is_absolute():
        spec = f"{base / target}:{name}"
    try:
        return load_dataset_item(spec)
    except ModuleNotFoundError as exc:
        raise ValidationError(f"dataset_item {spec!r}: module {exc.name!r} not found") from None


def check_entry(entry: RegistryEntry, root: Path, label: str) -> None:
    """Script exists, holds one decorated recipe, and the dataset_item schema resolves."""
    # lazy: the loader imports the lake (Lance, pyarrow); the no-op refresh reads the registry without them
    from pinlake.recipes.loader import load_recipe

    script = entry.script_path(root)
    if not script.is_file():
        raise InputFileError(
            f"{label}: key 'script_location': {script} does not exist", hint="script_location is relative to the registry yaml."
        )
    load_recipe(script)
    try:
        resolve_item(entry.dataset_item, root)
    except (ValidationError, InputFileError) as exc:
        raise ValidationError(f"{label}: key 'dataset_item': {exc.message}", hint="Use 'module:Class' or 'file.py:Class'.") from None


def register(registry_path: str | os.PathLike[str], entry: RegistryEntry | dict[str, Any]) -> RegistryEntry:
    """Validate ``entry`` and append it to the registry yaml (created when missing)."""
    path = Path(registry_path)
    if isinstance(entry, dict):
        entry = _entry(entry, f"new entry {entry.get('name')!r}")
    existing = Registry(path).entries if path.is_file() else []
    if any(e.name == entry.name for e in existing):
        raise ValidationError(
            f"{path}: an entry named {entry.name!r} already exists", hint="Bump its version in the yaml instead, or pick another name."
        )
    check_entry(entry, path.parent, f"entry {entry.name!r}")
    data = entry.model_dump(exclude_defaults=False, exclude_none=True)
    if not data.get("tags"):
        data.pop("tags", None)
    if entry.checks is not None:
        data["checks"] = entry.checks.model_dump(exclude_defaults=True)
    text = path.read_text() if path.is_file() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + yaml.safe_dump([data], sort_keys=False))
    return entry


def relative_script(script: str | os.PathLike[str], registry_path: str | os.PathLike[str]) -> str:
    rel = os.path.relpath(Path(script).resolve(), Path(registry_path).resolve().parent)
    return rel if rel.startswith(".") else f"./{rel}"


__all__ = ["RegistryEntry", "Registry", "register", "check_entry", "resolve_item", "relative_script"]
