"""Quality checks of one dataset version: DuckDB queries over its Lance tables, never a loop over rows.

:func:`run_checks` runs the checks a :class:`~pinlake.datasets.check_spec.ChecksConfig` declares
against a candidate version, comparing with a ``baseline`` version for the drift checks, and returns
one :class:`CheckResult` per check: ``pass``, ``fail``, ``warn`` (a failure of a check listed under
``warn:``), ``error`` (the check raised; its message names the exception) or ``skip`` (nothing to
check, e.g. a drift check without a baseline). A check never raises out of :func:`run_checks`.

The candidate's tables are DuckDB views named as the tables (``item``, ``image``, ``bbox``…) and
the baseline's sit in the schema ``baseline`` (``baseline.item``…): the SQL checks see both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

import duckdb

from pinlake.datasets.check_spec import CHECK_KEYS, ChecksConfig, SqlCheck, checks_config
from pinlake.features.groups import BBox, Image, KeyPoints, SchemaGroup
from pinlake.recipes.checks import CheckOutcome, PythonCheck
from pinlake.util.sqltext import sql_ident

if TYPE_CHECKING:  # pragma: no cover
    from pinlake.datasets.dataset import Dataset

STATUSES = ("pass", "fail", "warn", "error", "skip")
#: how far (in pixels, or in normalized units for normalized boxes) a box may stick out of its image
EPS = 1e-6
#: how many offending values a message names
EXAMPLES = 3


@dataclass
class CheckResult:
    """The outcome of one check. ``value`` is what was measured, ``threshold`` what it is held to."""

    check: str
    status: str
    value: Any = None
    threshold: Any = None
    message: str = ""
    #: a fail or an error of a check not listed under ``warn:`` (it stops a publish)
    blocking: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _one_line(exc: BaseException) -> str:
    """``ExceptionName: message`` on one line (DuckDB's ``^^^`` position markers dropped)."""
    text = " ".join(w for w in str(exc).split() if set(w) != {"^"})
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextmanager
def checks_connection(candidate: Dataset, baseline: Dataset | None = None, *, locked: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with the candidate's tables as views (and the baseline's under ``baseline.``).
    ``locked``: no file or network access and no setting changes (what the SQL checks run in)."""
    con = duckdb.connect()
    try:
        for schema, ds in (("main", candidate), ("baseline", baseline)):
            if ds is None:
                continue
            if schema != "main":
                con.execute(f"CREATE SCHEMA {schema}")
            for i, table in enumerate(ds.tables):
                ref = f"__{schema}_{i}"
                con.register(ref, ds.open_lance(table))
                con.execute(f"CREATE VIEW {schema}.{sql_ident(table)} AS SELECT * FROM {ref}")
        if locked:
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
        yield con
    finally:
        con.close()


class _Context:
    """What the built-in checks share: the connection, the two versions, the tables by role."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, config: ChecksConfig, candidate: Dataset, baseline: Dataset | None, splits: list[str] | None
    ) -> None:
        self.con = con
        self.config = config
        self.candidate = candidate
        self.baseline = baseline
        self.splits = splits
        schemas = candidate.schema.schemas
        tables = candidate.tables
        self.item = next((t for t in tables if schemas[t].group == SchemaGroup.ITEM.value), None)
        self.images = [t for t in tables if issubclass(schemas[t], Image)]
        self.boxes = [t for t in tables if issubclass(schemas[t], BBox)]
        self.keypoints = [t for t in tables if issubclass(schemas[t], KeyPoints)]
        self.categorized = [t for t in tables if schemas[t].group == SchemaGroup.ENTITY.value and "category" in schemas[t].model_fields]
        self._keys: tuple[int, int] | None = None

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        row = self.con.execute(sql, params or []).fetchone()
        assert row is not None  # an aggregate without GROUP BY returns one row
        return row[0]

    def split_counts(self, of_baseline: bool = False) -> dict[str, int]:
        """Items per split of the candidate (or of the baseline)."""
        ds = self.baseline if of_baseline else self.candidate
        if self.item is None or ds is None or self.item not in ds.tables:
            return {}
        table = f"baseline.{sql_ident(self.item)}" if of_baseline else sql_ident(self.item)
        return {str(s): int(n) for s, n in self.rows(f"SELECT split, count(*) FROM {table} GROUP BY split ORDER BY split")}

    def content_keys(self) -> tuple[int, int]:
        """Materialize ``__keys(split, item_id, k)``: the content hash of every image view with its
        item's split. ``k`` is the view's sha256, else the hash in its ``lake://`` url, else the
        sha256 of its embedded bytes, else NULL. Returns (views, views without a hash)."""
        if self._keys is not None:
            return self._keys
        if self.item is None:
            raise LookupError("the dataset has no item table")
        parts = []
        for t in self.images:
            no_hash = "coalesce(v.sha256, '') = '' AND coalesce(v.url, '') NOT LIKE 'lake://_%'"
            missing = self.scalar(f"SELECT count(*) FROM {sql_ident(t)} v WHERE {no_hash}")
            # the embedded bytes are read (and hashed, in DuckDB) only when some view needs them
            by_content = "sha256(v.content)" if missing else "NULL"
            key = f"coalesce(nullif(v.sha256, ''), CASE WHEN v.url LIKE 'lake://_%' THEN substr(v.url, 8) END, {by_content})"
            parts.append(
                f"SELECT i.split AS split, i.id AS item_id, {key} AS k FROM {sql_ident(t)} v JOIN {sql_ident(self.item)} i ON v.item_ref.id = i.id"
            )
        body = (
            " UNION ALL ".join(parts)
            if parts
            else "SELECT NULL::VARCHAR AS split, NULL::VARCHAR AS item_id, NULL::VARCHAR AS k WHERE false"
        )
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE __keys AS {body}")
        total, unhashed = self.con.execute("SELECT count(*), count(*) FILTER (WHERE k IS NULL) FROM __keys").fetchone() or (0, 0)
        self._keys = (int(total), int(unhashed))
        return self._keys


Check = Callable[[_Context, Any], CheckResult]


# --- item counts ---------------------------------------------------------------------------------
def check_min_items(ctx: _Context, spec: int | dict[str, int]) -> CheckResult:
    counts = ctx.split_counts()
    if isinstance(spec, int):
        total = sum(counts.values())
        ok = total >= spec
        msg = f"{total} items" + ("" if ok else f", fewer than {spec}")
        return CheckResult("min_items", "pass" if ok else "fail", total, spec, msg)
    value = {split: counts.get(split, 0) for split in spec}
    short = [f"{split}: {value[split]} < {n}" for split, n in spec.items() if value[split] < n]
    msg = "too few items in " + ", ".join(short) if short else ", ".join(f"{s}: {n}" for s, n in value.items())
    return CheckResult("min_items", "fail" if short else "pass", value, dict(spec), msg)


def check_no_empty_split(ctx: _Context, spec: bool) -> CheckResult:
    counts = ctx.split_counts()
    expected = list(ctx.splits or [])
    where = "the registry entry's splits"
    if not expected and isinstance(ctx.config.min_items, dict):
        expected, where = list(ctx.config.min_items), "min_items"
    if not expected and ctx.baseline is not None:
        expected, where = list(ctx.split_counts(of_baseline=True)), f"baseline version {ctx.baseline.version}"
    if not expected:
        total = sum(counts.values())
        msg = f"{len(counts)} split(s), {total} items (declare `splits:` in the registry entry to check each one)"
        return CheckResult(
            "no_empty_split", "pass" if total else "fail", 0 if total else 1, 0, msg if total else "the dataset has no items"
        )
    empty = [s for s in expected if not counts.get(s)]
    msg = f"empty split(s): {', '.join(empty)} (expected from {where})" if empty else f"{len(expected)} split(s) all hold items"
    return CheckResult("no_empty_split", "fail" if empty else "pass", len(empty), 0, msg)


# --- content hashes ------------------------------------------------------------------------------
def _no_hash(ctx: _Context, name: str) -> CheckResult | None:
    if not ctx.images:
        return CheckResult(name, "skip", None, 0, "the dataset has no image views")
    total, unhashed = ctx.content_keys()
    if total and unhashed == total:
        return CheckResult(
            name,
            "skip",
            None,
            0,
            f"none of the {total} images has a content hash (sha256 empty, not a lake:// url, no embedded bytes): "
            "build from the lake, or with --embed, to check it",
        )
    return None


def _unhashed_note(ctx: _Context) -> str:
    _, unhashed = ctx.content_keys()
    return f"; {unhashed} image(s) without a content hash not compared" if unhashed else ""


def check_no_split_leakage(ctx: _Context, spec: bool) -> CheckResult:
    skipped = _no_hash(ctx, "no_split_leakage")
    if skipped is not None:
        return skipped
    leaked = ctx.rows(
        "SELECT k, list_sort(list(DISTINCT split)) AS splits FROM __keys WHERE k IS NOT NULL "
        "GROUP BY k HAVING count(DISTINCT split) > 1 ORDER BY k"
    )
    n = len(leaked)
    if not n:
        return CheckResult("no_split_leakage", "pass", 0, 0, "no image content in two splits" + _unhashed_note(ctx))
    examples = "; ".join(f"{k[:12]} in {', '.join(s)}" for k, s in leaked[:EXAMPLES])
    msg = f"{n} image content(s) in more than one split (e.g. {examples})" + _unhashed_note(ctx)
    return CheckResult("no_split_leakage", "fail", n, 0, msg)


def check_no_duplicate_items(ctx: _Context, spec: bool) -> CheckResult:
    skipped = _no_hash(ctx, "no_duplicate_items")
    if skipped is not None:
        return skipped
    dups = ctx.rows(
        "SELECT split, k, count(DISTINCT item_id) AS n FROM __keys WHERE k IS NOT NULL "
        "GROUP BY split, k HAVING count(DISTINCT item_id) > 1 ORDER BY n DESC, split, k"
    )
    extra = sum(int(n) - 1 for _, _, n in dups)
    if not dups:
        return CheckResult("no_duplicate_items", "pass", 0, 0, "no two items of a split share an image" + _unhashed_note(ctx))
    examples = "; ".join(f"{k[:12]} on {n} items of {split}" for split, k, n in dups[:EXAMPLES])
    msg = f"{extra} duplicate item(s) in {len(dups)} group(s) (e.g. {examples})" + _unhashed_note(ctx)
    return CheckResult("no_duplicate_items", "fail", extra, 0, msg)


# --- geometry ------------------------------------------------------------------------------------
def _image_sizes(ctx: _Context) -> str:
    parts = [f"SELECT id, width, height FROM {sql_ident(t)}" for t in ctx.images]
    return " UNION ALL ".join(parts) if parts else "SELECT NULL::VARCHAR AS id, NULL::BIGINT AS width, NULL::BIGINT AS height WHERE false"


def _box_problems(ctx: _Context, table: str) -> dict[str, int]:
    w = "CASE WHEN b.format = 'xyxy' THEN b.coords[3] - b.coords[1] ELSE b.coords[3] END"
    h = "CASE WHEN b.format = 'xyxy' THEN b.coords[4] - b.coords[2] ELSE b.coords[4] END"
    finite = "(len(b.coords) = 4 AND coalesce(list_bool_and(list_transform(b.coords, lambda c: coalesce(isfinite(c), false))), false))"
    sql = f"""
        WITH v AS ({_image_sizes(ctx)}),
        b AS (
            SELECT {finite} AS finite, b.coords[1] AS x, b.coords[2] AS y, {w} AS w, {h} AS h, coalesce(b.is_normalized, false) AS norm,
                   CASE WHEN b.is_normalized THEN 1.0 ELSE v.width END AS iw, CASE WHEN b.is_normalized THEN 1.0 ELSE v.height END AS ih
            FROM {sql_ident(table)} b LEFT JOIN v ON b.view_ref.id = v.id
        )
        SELECT count(*) FILTER (WHERE NOT finite),
               count(*) FILTER (WHERE finite AND NOT (w > 0 AND h > 0)),
               count(*) FILTER (WHERE finite AND w > 0 AND h > 0 AND NOT coalesce(iw > 0 AND ih > 0, false)),
               count(*) FILTER (WHERE finite AND w > 0 AND h > 0 AND iw > 0 AND ih > 0
                                AND (x < -{EPS} OR y < -{EPS} OR x + w > iw + {EPS} OR y + h > ih + {EPS}))
        FROM b
    """
    row = ctx.con.execute(sql).fetchone() or (0, 0, 0, 0)
    return dict(zip(("NaN or not 4 numbers", "width or height <= 0", "image size unknown", "outside the image"), map(int, row)))


def _keypoint_problems(ctx: _Context, table: str) -> dict[str, int]:
    finite = "(len(k.coords) % 2 = 0 AND coalesce(list_bool_and(list_transform(k.coords, lambda c: coalesce(isfinite(c), false))), true))"
    sql = f"""
        WITH v AS ({_image_sizes(ctx)}),
        k AS (
            SELECT {finite} AS finite, list_slice(k.coords, 1, -1, 2) AS xs, list_slice(k.coords, 2, -1, 2) AS ys,
                   len(k.coords) AS n, v.width AS iw, v.height AS ih
            FROM {sql_ident(table)} k LEFT JOIN v ON k.view_ref.id = v.id
        )
        SELECT count(*) FILTER (WHERE NOT finite),
               count(*) FILTER (WHERE finite AND n > 0 AND NOT coalesce(iw > 0 AND ih > 0, false)),
               count(*) FILTER (WHERE finite AND n > 0 AND iw > 0 AND ih > 0
                                AND (list_min(xs) < -{EPS} OR list_min(ys) < -{EPS} OR list_max(xs) > iw + {EPS} OR list_max(ys) > ih + {EPS}))
        FROM k
    """
    row = ctx.con.execute(sql).fetchone() or (0, 0, 0)
    return dict(zip(("NaN or odd count", "image size unknown", "outside the image"), map(int, row)))


def check_boxes_inside_images(ctx: _Context, spec: bool) -> CheckResult:
    if not ctx.boxes and not ctx.keypoints:
        return CheckResult("boxes_inside_images", "skip", None, 0, "the dataset has no bbox or keypoints table")
    problems: list[str] = []
    bad = checked = 0
    found = [(t, "box(es)", _box_problems(ctx, t)) for t in ctx.boxes] + [
        (t, "keypoint set(s)", _keypoint_problems(ctx, t)) for t in ctx.keypoints
    ]
    for table, kind, counts in found:
        checked += ctx.candidate.num_rows(table)
        for what, n in counts.items():
            if n:
                bad += n
                problems.append(f"{table}: {n} {kind} {what}")
    if not bad:
        return CheckResult("boxes_inside_images", "pass", 0, 0, f"{checked} annotation(s) inside their images")
    return CheckResult("boxes_inside_images", "fail", bad, 0, "; ".join(problems))


# --- categories ----------------------------------------------------------------------------------
def _baseline_categories(ctx: _Context, table: str) -> list[str] | None:
    base = ctx.baseline
    if base is None or table not in base.tables:
        return None
    fv = base.features_values or {}
    values = ((fv.get("entities") or {}).get(table) or {}).get("category", {}).get("values")
    if values is not None:
        return [str(v) for v in values]
    return [str(r[0]) for r in ctx.rows(f"SELECT DISTINCT category FROM baseline.{sql_ident(table)} WHERE category IS NOT NULL")]


def check_categories(ctx: _Context, spec: list[str] | bool) -> CheckResult:
    if not ctx.categorized:
        return CheckResult("categories", "skip", None, None, "the dataset has no entity table with a category")
    threshold: Any = sorted(spec) if isinstance(spec, list) else "baseline"
    unknown: dict[str, list[tuple[str, int]]] = {}
    for table in ctx.categorized:
        allowed = list(spec) if isinstance(spec, list) else _baseline_categories(ctx, table)
        if allowed is None:
            return CheckResult(
                "categories",
                "skip",
                None,
                threshold,
                "no baseline version to take the allowed categories from; list them: categories: [a, b]",
            )
        rows = ctx.rows(
            f"SELECT category, count(*) AS n FROM {sql_ident(table)} WHERE category IS NOT NULL AND NOT list_contains(?, category) "
            "GROUP BY category ORDER BY n DESC, category",
            [allowed],
        )
        if rows:
            unknown[table] = [(str(c), int(n)) for c, n in rows]
    bad = sum(n for rows in unknown.values() for _, n in rows)
    if not bad:
        return CheckResult("categories", "pass", 0, threshold, "every category is allowed")
    msg = "; ".join(
        f"{table}: {sum(n for _, n in rows)} row(s) with unknown categories "
        + ", ".join(f"{c!r} ({n})" for c, n in rows[:EXAMPLES])
        + (", …" if len(rows) > EXAMPLES else "")
        for table, rows in unknown.items()
    )
    return CheckResult("categories", "fail", bad, threshold, msg)


# --- drift against the baseline ------------------------------------------------------------------
def _no_baseline(name: str, threshold: Any) -> CheckResult:
    return CheckResult(name, "skip", None, threshold, "no baseline version to compare with (the first version, or no channel yet)")


def check_max_row_change(ctx: _Context, spec: float) -> CheckResult:
    base = ctx.baseline
    if base is None:
        return _no_baseline("max_row_change", spec)
    changes: dict[str, float] = {}
    new_tables = []
    for table in sorted(set(ctx.candidate.tables) | set(base.tables)):
        old = base.num_rows(table) if table in base.tables else 0
        new = ctx.candidate.num_rows(table) if table in ctx.candidate.tables else 0
        if old == 0:
            if new:
                new_tables.append(table)
            continue
        changes[table] = abs(new - old) / old
    worst = max(changes, key=lambda t: changes[t], default=None)
    value = round(changes[worst], 6) if worst is not None else 0.0
    over = [f"{t} {changes[t]:.1%}" for t in sorted(changes, key=lambda t: -changes[t]) if changes[t] > spec]
    note = f"; new table(s) {', '.join(new_tables)} not compared" if new_tables else ""
    base_v = f"version {base.version}"
    if over:
        return CheckResult(
            "max_row_change", "fail", value, spec, f"rows changed by more than {spec:.0%} vs {base_v}: {', '.join(over)}{note}"
        )
    msg = f"largest change {value:.1%} ({worst}) vs {base_v}{note}" if worst else f"no table to compare with {base_v}{note}"
    return CheckResult("max_row_change", "pass", value, spec, msg)


def check_max_category_drift(ctx: _Context, spec: float) -> CheckResult:
    base = ctx.baseline
    if base is None:
        return _no_baseline("max_category_drift", spec)
    if not ctx.categorized:
        return CheckResult("max_category_drift", "skip", None, spec, "the dataset has no entity table with a category")
    drift: dict[str, float] = {}
    for table in ctx.categorized:
        new_n = ctx.candidate.num_rows(table)
        old_n = base.num_rows(table) if table in base.tables else 0
        if not new_n or not old_n:
            drift[table] = 0.0 if new_n == old_n else 1.0
            continue
        drift[table] = float(
            ctx.scalar(f"""
            WITH a AS (SELECT category, count(*) / sum(count(*)) OVER () AS p FROM {sql_ident(table)} GROUP BY category),
                 b AS (SELECT category, count(*) / sum(count(*)) OVER () AS q FROM baseline.{sql_ident(table)} GROUP BY category)
            SELECT 0.5 * sum(abs(coalesce(p, 0) - coalesce(q, 0))) FROM a FULL OUTER JOIN b USING (category)
            """)
        )
    worst = max(drift, key=lambda t: drift[t])
    value = round(drift[worst], 6)
    detail = ", ".join(f"{t} {d:.3f}" for t, d in drift.items())
    status = "fail" if value > spec else "pass"
    return CheckResult("max_category_drift", status, value, spec, f"total variation distance vs version {base.version}: {detail}")


# --- SQL -----------------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _equal(value: Any, expect: Any) -> bool:
    numbers = (int, float)
    if isinstance(value, numbers) and isinstance(expect, numbers) and not isinstance(value, bool) and not isinstance(expect, bool):
        return math.isclose(float(value), float(expect), rel_tol=1e-9, abs_tol=1e-12)
    return bool(value == expect)


def run_sql_check(con: duckdb.DuckDBPyConnection, spec: SqlCheck) -> CheckResult:
    cur = con.execute(spec.query)
    columns = len(cur.description or [])
    rows = cur.fetchmany(2)
    if columns != 1 or len(rows) != 1:
        shape = f"{'more than one row' if len(rows) > 1 else f'{len(rows)} rows'} × {columns} column(s)"
        return CheckResult(spec.name, "error", None, spec.expect, f"the query returned {shape}; an SQL check returns a single value")
    value = _plain(rows[0][0])
    ok = _equal(value, spec.expect)
    return CheckResult(spec.name, "pass" if ok else "fail", value, spec.expect, "" if ok else f"expected {spec.expect!r}, got {value!r}")


# --- running -------------------------------------------------------------------------------------
BUILTIN: dict[str, Check] = {
    "min_items": check_min_items,
    "no_empty_split": check_no_empty_split,
    "no_split_leakage": check_no_split_leakage,
    "no_duplicate_items": check_no_duplicate_items,
    "boxes_inside_images": check_boxes_inside_images,
    "categories": check_categories,
    "max_row_change": check_max_row_change,
    "max_category_drift": check_max_category_drift,
}


def _guarded(name: str, threshold: Any, fn: Callable[[], CheckResult]) -> CheckResult:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a check that raises is reported as an error, never crashes the run
        return CheckResult(name, "error", None, threshold, _one_line(exc))


def _threshold(spec: Any) -> Any:
    return None if isinstance(spec, bool) else spec


@contextmanager
def _opened(
    candidate: Dataset, baseline: Dataset | None, locked: bool, checks: list[tuple[str, Any]], results: list[CheckResult]
) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """:func:`connect`, or None after adding an error result per check when the tables do not open."""
    try:
        opened = checks_connection(candidate, baseline, locked=locked)
        con = opened.__enter__()
    except Exception as exc:  # noqa: BLE001 - e.g. a table version removed by cleanup: each check reports it
        results.extend(CheckResult(name, "error", None, threshold, _one_line(exc)) for name, threshold in checks)
        yield None
        return
    try:
        yield con
    finally:
        opened.__exit__(None, None, None)


def run_checks(
    candidate: Dataset,
    config: ChecksConfig | dict[str, Any] | None,
    baseline: Dataset | None = None,
    *,
    splits: list[str] | None = None,
) -> list[CheckResult]:
    """Run every check ``config`` declares on ``candidate`` (drift checks against ``baseline``).

    ``splits``: the splits the dataset must have (the registry entry's ``splits:``), for
    ``no_empty_split``. Failures of the checks named in ``warn:`` become ``warn``; the other
    failures and errors are ``blocking``.
    """
    cfg = checks_config(config)
    results: list[CheckResult] = []
    builtins = [n for n in cfg.enabled() if n in BUILTIN]
    if builtins:
        with _opened(candidate, baseline, False, [(n, _threshold(getattr(cfg, n))) for n in builtins], results) as con:
            if con is not None:
                ctx = _Context(con, cfg, candidate, baseline, splits)
                for name in builtins:
                    spec = getattr(cfg, name)
                    results.append(_guarded(name, _threshold(spec), partial(BUILTIN[name], ctx, spec)))
    if cfg.sql:
        with _opened(candidate, baseline, True, [(s.name, s.expect) for s in cfg.sql], results) as con:
            if con is not None:
                for s in cfg.sql:
                    results.append(_guarded(s.name, s.expect, partial(run_sql_check, con, s)))
    warn = set(cfg.warn)
    for r in results:
        if r.check in warn and r.status == "fail":
            r.status = "warn"
        r.blocking = r.status in ("fail", "error") and r.check not in warn
    return results


# --- Python checks (@pinlake.check in the recipe file) ----------------------------------------------
def _type_name(value: Any) -> str:
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _jsonable(value: Any) -> Any:
    """``value`` as the report's JSON holds it: numbers, strings, bools, None, lists and mappings of them."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    item = getattr(value, "item", None)  # a NumPy scalar
    if callable(item) and getattr(value, "shape", None) == ():
        try:
            return _jsonable(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def run_python_check(spec: PythonCheck, candidate: Any, baseline: Any) -> CheckResult:
    """Call one Python check and turn what it returned into a result (a wrong type is an ``error``)."""
    threshold = _jsonable(spec.threshold)
    returned = spec(candidate, baseline)
    if isinstance(returned, CheckOutcome):
        status = "pass" if returned.passed else "fail"
        return CheckResult(spec.name, status, _jsonable(returned.value), threshold, " ".join(returned.message.split()))
    if isinstance(returned, bool):
        return CheckResult(spec.name, "pass" if returned else "fail", None, threshold, "" if returned else "the check returned False")
    return CheckResult(
        spec.name,
        "error",
        None,
        threshold,
        f"the check returned {_type_name(returned)}, not a pinlake.CheckOutcome or a bool (return CheckOutcome(passed=...) or True/False)",
    )


def run_python_checks(
    checks: Sequence[PythonCheck],
    candidate: Any,
    baseline: Any = None,
    *,
    warn: Iterable[str] = (),
    declared: Iterable[str] = (),
) -> list[CheckResult]:
    """Run the ``@pinlake.check`` functions of a recipe file, in order, on ``candidate`` (and ``baseline``).

    ``candidate`` and ``baseline`` are what each function receives: read-only handles on the two
    versions (:mod:`pinlake.library.check` passes :class:`pinlake.library.pin.PinnedDataset` objects,
    a layer this module does not import). A check that raises, returns another type, or takes a name
    already used (``declared``: the checks of the registry entry, or an earlier Python check) gives
    an ``error`` result and the others still run. Failures of the checks named in ``warn`` become
    ``warn``; the other failures and errors are ``blocking``.
    """
    taken = set(declared) | set(CHECK_KEYS)
    warned = set(warn)
    results: list[CheckResult] = []
    for spec in checks:
        if spec.name in taken:
            results.append(
                CheckResult(
                    spec.name,
                    "error",
                    None,
                    _jsonable(spec.threshold),
                    f"the name {spec.name!r} is already a check of this dataset; name it with @pinlake.check(name=...)",
                )
            )
            continue
        taken.add(spec.name)
        results.append(_guarded(spec.name, _jsonable(spec.threshold), partial(run_python_check, spec, candidate, baseline)))
    for r in results:
        if r.check in warned and r.status == "fail":
            r.status = "warn"
        r.blocking = r.status in ("fail", "error") and r.check not in warned
    return results


__all__ = [
    "CheckResult",
    "STATUSES",
    "BUILTIN",
    "run_checks",
    "run_sql_check",
    "run_python_check",
    "run_python_checks",
    "checks_connection",
]
