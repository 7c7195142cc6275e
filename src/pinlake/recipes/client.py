"""ReadOnlyLakeClient: what a recipe sees — one pinned lake version, reads only."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from pinlake.errors import NoDataError, NotFoundError
from pinlake.lake.lake import Lake
from pinlake.lake.models import Data, MultiData
from pinlake.recipes.errors import RecipeError
from pinlake.util.sqltext import sql_str


class ReadOnlyLakeClient:
    """Reads of a lake pinned at one version (``lake.checkout(lake.version)``); no write methods.

    The lake behind it is read-only: a write reached through it (``client._lake.create_data_tag``,
    ``data.add_tags``, its store) raises a ValidationError naming ``recipe``.

    ``get_resource("trial/basel")`` returns the resource of that object name and every resource
    below it (object names starting with ``trial/basel/``), sorted by object name.

    For a row-wise recipe (``rowwise=True``) the client holds the recipe to its promise: it reads
    rows with ``select`` and ``list_data`` only, without ``limit``, ``offset`` or ``all_versions``
    (a RecipeError names the call otherwise), and with ``only_names`` it sees the latest rows of those
    object names only: the resources that changed since the previous lock (:mod:`pinlake.recipes.delta`).
    """

    __slots__ = ("_lake", "_version", "_rowwise", "_only_names", "_recipe")
    _lake: Lake
    _version: int
    _rowwise: bool
    _only_names: list[str] | None
    _recipe: str

    def __init__(self, lake: Lake, recipe: str | None = None, *, rowwise: bool = False, only_names: list[str] | None = None) -> None:
        version = lake.version
        who = f"recipe {recipe}" if recipe else "a recipe"
        pinned = lake.read_only_view(  # its writes, and its store's, raise naming the recipe
            f"the lake is read-only for {who} while it is being locked",
            hint="A recipe only reads the lake and returns resources; tag, upload or process outside it (e.g. `pinlake lake tag`).",
        )
        object.__setattr__(self, "_lake", pinned)
        object.__setattr__(self, "_version", version)
        object.__setattr__(self, "_rowwise", bool(rowwise or only_names is not None))
        object.__setattr__(self, "_only_names", None if only_names is None else sorted(set(only_names)))
        object.__setattr__(self, "_recipe", who)

    def __setattr__(self, name: str, value: Any) -> None:  # pragma: no cover - guard
        raise AttributeError("ReadOnlyLakeClient is read-only")

    @property
    def pinned_lake(self) -> Lake:
        """The read-only lake view every read of this client goes through (its writes raise)."""
        return self._lake

    @property
    def version(self) -> int:
        """The lake (data table) version every read of this client sees."""
        return self._version

    @property
    def root(self) -> Any:
        return self._lake.root

    def _rowwise_read(self, call: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``kwargs`` of a row read, checked against the row-wise promise and narrowed to ``only_ids``."""
        if not self._rowwise:
            return kwargs
        for key in ("limit", "offset", "all_versions"):
            if kwargs.get(key):
                raise RecipeError(
                    f"{self._recipe} is rowwise=True but calls client.{call}({key}=...): the rows it returns depend on other rows",
                    hint=f"Drop {key}=, or drop rowwise=True from @pinlake.recipe().",
                )
        if self._only_names is not None:
            asked = kwargs.get("object_names")
            only = self._only_names if asked is None else sorted(set(self._only_names) & {str(n) for n in asked})
            kwargs = {**kwargs, "object_names": only}
        return kwargs

    def _not_rowwise(self, call: str) -> None:
        if self._rowwise:
            raise RecipeError(
                f"{self._recipe} is rowwise=True but calls client.{call}(): a row-wise recipe reads rows with client.select or client.list_data",
                hint="Select the rows with client.select(where=...), or drop rowwise=True from @pinlake.recipe().",
            )

    def get_resource(self, object_name: str, version: int | None = None) -> MultiData:
        """The resource ``object_name`` and its children by object-name prefix (latest versions)."""
        self._not_rowwise("get_resource")
        prefix = object_name.strip("/")
        q = f"object_name = {sql_str(prefix)} OR object_name LIKE {sql_str(prefix + '/%')}"
        rows = [d for d in self._list(q=q) if d.object_name == prefix or d.object_name.startswith(prefix + "/")]
        if version is not None:
            rows = [d for d in rows if d.object_name != prefix] + [self._lake.find_data(object_name=prefix, version=version)]
            rows.sort(key=lambda d: (d.object_name, d.version))
        if not rows:
            raise NotFoundError(
                f"no resource {prefix!r} (nor any below {prefix + '/'!r}) in the lake at version {self._version}",
                hint="List object names with `pinlake lake ls`.",
            )
        return MultiData(self._lake, rows)

    def find_data(self, filename: str | None = None, object_name: str | None = None, id: Any = None, *, version: int | None = None) -> Data:
        self._not_rowwise("find_data")
        return self._lake.find_data(filename=filename, object_name=object_name, id=id, version=version)

    def list_data(self, **kwargs: Any) -> MultiData:
        """``Lake.list_data`` at the pinned version; an empty lake gives an empty list."""
        return self._list(**self._rowwise_read("list_data", kwargs))

    def select(self, where: str | None = None, **kwargs: Any) -> pa.Table:
        """``Lake.select`` at the pinned version: the matching rows as one Arrow table (no Python
        object per row). A split of the recipe's result may be such a table, or any table with an
        ``id`` (or ``object_name``) column: ``client.select("width > 100", columns=["id", "object_name"])``."""
        return self._lake.select(where, **self._rowwise_read("select", kwargs))

    def _list(self, **kwargs: Any) -> MultiData:
        try:
            return self._lake.list_data(**kwargs)
        except NoDataError:
            return MultiData(self._lake, [])

    def list_data_tags(self) -> list[Any]:
        return self._lake.list_data_tags()

    def list_datasources(self) -> list[Any]:
        return self._lake.list_datasources()

    def count(self, q: str | None = None) -> int:
        self._not_rowwise("count")
        return self._lake.count(q=q)

    def __repr__(self) -> str:
        return f"ReadOnlyLakeClient(version={self._version})"


__all__ = ["ReadOnlyLakeClient"]
