"""Semantic search over an Embedding table: nearest vectors, returned as items."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pinlake.errors import ValidationError
from pinlake.features.groups import Embedding

if TYPE_CHECKING:  # pragma: no cover
    from pinlake.datasets.dataset import Dataset

#: text → vector functions by embedding table name, for text queries
EMBEDDING_FUNCTIONS: dict[str, Callable[[str], Sequence[float]]] = {}


def register_embedding_function(table: str, fn: Callable[[str], Sequence[float]]) -> None:
    EMBEDDING_FUNCTIONS[table] = fn


def semantic_search(
    ds: Dataset, query: Any, table: str, limit: int = 50, embedding_fn: Callable[[str], Sequence[float]] | None = None
) -> tuple[list[Any], list[float], list[str]]:
    """Items nearest to ``query`` (a vector, or a text with an embedding function), their distances and ids."""
    schema = ds.schema.schema(table)
    if not issubclass(schema, Embedding):
        raise ValidationError(f"table {table!r} is not an embedding table (it holds {schema.__name__})")
    if isinstance(query, str):
        fn = embedding_fn or EMBEDDING_FUNCTIONS.get(table)
        if fn is None:
            raise ValidationError(
                f"a text query on {table!r} needs an embedding function",
                hint="Pass embedding_fn=your_text_encoder, or register_embedding_function(table, fn), or query with a vector.",
            )
        query = fn(query)
    vec = np.asarray(query, dtype=np.float32)
    lds = ds.open_lance(table)
    dim = lds.schema.field("vector").type.list_size
    if vec.ndim != 1 or (dim > 0 and vec.shape[0] != dim):
        raise ValidationError(f"query vector has shape {vec.shape}, table {table!r} holds vectors of {dim}")
    hits = lds.to_table(columns=["item_ref"], nearest={"column": "vector", "q": vec, "k": int(limit)})
    refs = hits.column("item_ref").to_pylist()
    distances = hits.column("_distance").to_pylist()
    ids = [r["id"] for r in refs]
    by_id = {it.id: it for it in ds.get_dataset_items(ids=sorted(set(ids)))}
    return [by_id.get(i) for i in ids], distances, ids
