"""Load a recipe file, run it against a pinned lake, and check what it returned."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pinlake.errors import NotFoundError, PinlakeError, first_line
from pinlake.lake.models import Data
from pinlake.lake.query import key_columns
from pinlake.recipes.client import ReadOnlyLakeClient
from pinlake.recipes.decorator import RecipeSpec, get_spec
from pinlake.recipes.errors import RecipeError

SPLIT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")
TEMPLATE = "Decorate a function: @pinlake.recipe()\\ndef my_recipe(client): return {'train': [...], 'test': [...]}"


@dataclass
class LoadedRecipe:
    path: Path
    spec: RecipeSpec
    source_sha256: str

    @property
    def name(self) -> str:
        return self.spec.name


def _recipe_traceback(exc: BaseException, path: Path) -> str:
    """The traceback of ``exc``, starting at the first frame inside the recipe file."""
    frames = traceback.extract_tb(exc.__traceback__)
    start = next((i for i, f in enumerate(frames) if Path(f.filename).resolve() == path.resolve()), 0)
    lines = traceback.format_list(frames[start:]) + traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip()


def load_recipe(path: str | os.PathLike[str], name: str | None = None) -> LoadedRecipe:
    """Import ``path`` and return its decorated recipe (``name`` picks one when there are several)."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(
            f"recipe file {path} does not exist", hint="Pass the path of a .py file: pinlake datasets lock --file recipes/x.py"
        )
    source = path.read_bytes()
    mod_name = f"_pinlake_recipe_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise RecipeError(f"recipe file {path} is not a Python module", hint="Recipes are .py files.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - any error of user code, shown with its traceback
        sys.modules.pop(mod_name, None)
        raise RecipeError(
            f"recipe file {path} failed to import:\n{_recipe_traceback(exc, path)}", hint="Fix the error above in the recipe file."
        ) from exc
    found = [s for s in (get_spec(v) for v in vars(module).values()) if s is not None and s.fn.__module__ == mod_name]
    if name is not None:
        found = [s for s in found if s.name == name or s.fn.__name__ == name]
    if not found:
        what = f"named {name!r} " if name else ""
        raise RecipeError(
            f"{path}: no function {what}decorated with @pinlake.recipe() / @pinlake.dataset_compilation_entrypoint()", hint=TEMPLATE
        )
    if len(found) > 1:
        raise RecipeError(
            f"{path}: several recipes ({', '.join(s.name for s in found)})", hint="Keep one decorated function per file, or pass name=."
        )
    return LoadedRecipe(path, found[0], hashlib.sha256(source).hexdigest())


def run_recipe(loaded: LoadedRecipe, client: ReadOnlyLakeClient) -> dict[str, list[Any] | pa.Table]:
    """Call the recipe; any exception becomes a RecipeError carrying the recipe's own traceback."""
    try:
        result = loaded.spec.fn(client)
    except PinlakeError as exc:
        raise RecipeError(
            f"recipe {loaded.name!r} ({loaded.path}) raised:\n{_recipe_traceback(exc, loaded.path)}", hint=exc.hint or "Fix the recipe."
        ) from exc
    except Exception as exc:  # noqa: BLE001
        raise RecipeError(
            f"recipe {loaded.name!r} ({loaded.path}) raised:\n{_recipe_traceback(exc, loaded.path)}", hint="Fix the recipe."
        ) from exc
    return check_shape(loaded, result)


def as_table(resources: Any) -> pa.Table | None:
    """``resources`` as one Arrow table when it is columnar: a pyarrow Table, RecordBatch or
    RecordBatchReader, or anything that exports an Arrow stream (a DuckDB relation, a pandas ≥ 2.2
    or polars frame); else None."""
    if isinstance(resources, pa.Table):
        return resources
    if isinstance(resources, pa.RecordBatch):
        return pa.Table.from_batches([resources])
    if isinstance(resources, pa.RecordBatchReader):
        return resources.read_all()
    if hasattr(resources, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(resources).read_all()
    return None


def check_table(where: str, split: str, table: pa.Table, allow_empty: bool) -> pa.Table:
    """The key columns of a split given as a table: ``id``, else ``object_name`` (+ ``version``)."""
    names = table.column_names
    if "id" not in names and "object_name" not in names:
        raise RecipeError(
            f"{where}: split {split!r} is a table without an 'id' or 'object_name' column (columns: {', '.join(names) or 'none'})",
            hint="Select the key with the rows: client.select(..., columns=['id', 'object_name']).",
        )
    if not table.num_rows and not allow_empty:
        raise RecipeError(
            f"{where}: split {split!r} is empty", hint="Select resources for it, drop it, or use @pinlake.recipe(allow_empty=True)."
        )
    key = key_columns(names)
    cols = []
    for c in key:
        col = table.column(c)
        if col.null_count:
            i = pc.index(pc.is_null(col), True).as_py()
            raise RecipeError(f"{where}: split {split!r}[{i}] has no {c}", hint=f"Every row of a split's table needs its {c}.")
        kind = (
            pa.types.is_integer(col.type)
            if c == "version"
            else pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_string_view(col.type)
        )
        if not kind:
            raise RecipeError(
                f"{where}: split {split!r}: column {c!r} is {col.type}, not {'an integer' if c == 'version' else 'string'}",
                hint=f"Return the lake's {c} values, e.g. from client.select(columns=[{c!r}]).",
            )
        try:
            cols.append(col.cast(pa.int32() if c == "version" else pa.string()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise RecipeError(
                f"{where}: split {split!r}: column {c!r} does not fit the lake's: {first_line(exc)}",
                hint=f"Return the lake's {c} values, e.g. from client.select(columns=[{c!r}]).",
            ) from None
    return pa.table(dict(zip(key, cols)))


def check_shape(loaded: LoadedRecipe, result: Any, allow_empty: bool | None = None) -> dict[str, list[Any] | pa.Table]:
    """The recipe's result as {split: list of resources or key table}, checked; empty splits are
    refused unless ``allow_empty`` (default: the recipe's own ``allow_empty``)."""
    where = f"recipe {loaded.name!r} ({loaded.path})"
    allow_empty = loaded.spec.allow_empty if allow_empty is None else allow_empty
    if not isinstance(result, dict):
        raise RecipeError(f"{where} returned {type(result).__name__}, not a dict {{split: [resources]}}", hint=TEMPLATE)
    if not result and not allow_empty:
        raise RecipeError(f"{where} returned no splits", hint="Return e.g. {'train': [...]}, or use @pinlake.recipe(allow_empty=True).")
    out: dict[str, list[Any] | pa.Table] = {}
    for split, resources in result.items():
        if not isinstance(split, str) or not SPLIT_RE.match(split):
            raise RecipeError(f"{where}: split name {split!r} is not valid", hint="Use letters, digits, '_' and '-' (e.g. 'train').")
        try:
            table = as_table(resources)
        except Exception as exc:  # noqa: BLE001 - a lazy relation or reader of the recipe's fails when it is read
            raise RecipeError(
                f"{where}: split {split!r} could not be read as a table: {type(exc).__name__}: {first_line(exc)}",
                hint="Fix the query or frame the recipe returns for this split (it is read after the recipe returns).",
            ) from exc
        if table is not None:
            out[split] = check_table(where, split, table, allow_empty)
            continue
        if isinstance(resources, (str, bytes, dict)) or not hasattr(resources, "__iter__"):
            raise RecipeError(
                f"{where}: split {split!r} must be a list of resources or a table, got {type(resources).__name__}",
                hint="Return a list of lake Data, or a table with an 'id' column (client.select(...)).",
            )
        items = list(resources)
        if not items and not allow_empty:
            raise RecipeError(
                f"{where}: split {split!r} is empty", hint="Select resources for it, drop it, or use @pinlake.recipe(allow_empty=True)."
            )
        for i, r in enumerate(items):
            if not isinstance(r, Data) and not (isinstance(r, dict) and (r.get("id") or r.get("object_name"))):
                raise RecipeError(
                    f"{where}: split {split!r}[{i}] is {type(r).__name__} {r!r:.80}, not a resource",
                    hint="Return lake Data objects (client.get_resource / list_data) or dicts with 'id' or 'object_name'.",
                )
        out[split] = items
    return out


def resolve_resource(lake: Any, split: str, index: int, r: Any) -> dict[str, Any]:
    """A resource (Data or dict) → its full data row at the pinned lake version."""
    if isinstance(r, Data):
        return r.to_dict()
    try:
        if r.get("id"):
            return lake.find_data(id=r["id"]).to_dict()
        return lake.find_data(object_name=r["object_name"], version=r.get("version")).to_dict()
    except NotFoundError as exc:
        raise RecipeError(f"split {split!r}[{index}]: {exc.message}", hint="Recipes may only return resources of the lake.") from None


__all__ = ["LoadedRecipe", "load_recipe", "run_recipe", "check_shape", "check_table", "as_table", "resolve_resource"]
