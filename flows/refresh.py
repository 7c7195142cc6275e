"""refresh(dataset) and refresh_all(): the dataset refresh chain as Prefect flows.

Every task is one engine call from :mod:`pinlake.library.refresh`; caching keys are content hashes so a
rerun after a crash resumes: the build is keyed by (dataset, lock hash, base version), stats and
preview by (dataset, version).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.futures import wait
from prefect.states import Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from flows.policy import RESULT_READ, RETRY_TRANSIENT
from flows.runtime import TEMPORARY_SERVER, library_id, mark_lineage
from pinlake.library import refresh as engine
from pinlake.library.check import CheckReport
from pinlake.library.lock import LockStep, lock_step
from pinlake.library.publish import Decision
from pinlake.library.refresh_stamp import write_stamp

#: the Prefect events of a gated refresh's verdict (resource ``pinlake.dataset.<library>.<name>``)
PUBLISHED = "pinlake.dataset.published"
QUARANTINED = "pinlake.dataset.quarantined"


def dataset_resource_id(library: str, dataset: str) -> str:
    return f"pinlake.dataset.{library_id(library)}.{dataset}"


def _key(*parts: Any) -> str:
    return "pinlake-" + "-".join(str(p) for p in parts)


def _lib_key(library: str) -> str:
    import hashlib

    return hashlib.sha1(library_id(library).encode()).hexdigest()[:10]


@task(name="lock", **RETRY_TRANSIENT, cache_policy=NO_CACHE)
def lock_task(library: str, registry: str, dataset: str) -> LockStep:
    return lock_step(library, registry, dataset)


@task(
    name="build",
    **RETRY_TRANSIENT,
    persist_result=True,
    cache_key_fn=lambda ctx, p: _key("build", _lib_key(p["library"]), p["dataset"], p["lock"].lock_hash, p["base_version"]),
)
def build_task(
    library: str,
    registry: str,
    dataset: str,
    lock: LockStep,
    base_version: int | None,
    runner: str | None = None,
    dask_address: str | None = None,
    shards: int | None = None,
) -> engine.BuildStep:
    return engine.build_step(library, registry, dataset, lock.lock_dir, runner=runner, dask_address=dask_address, shards=shards)


@task(
    name="stats",
    **RETRY_TRANSIENT,
    persist_result=True,
    cache_key_fn=lambda ctx, p: _key(
        "stats", _lib_key(p["library"]), p["dataset"], engine.version_token(p["library"], p["dataset"], p["version"])
    ),
)
def stats_task(library: str, dataset: str, version: int) -> dict[str, Any]:
    return engine.stats_step(library, dataset)


@task(
    name="preview",
    **RETRY_TRANSIENT,
    persist_result=True,
    cache_key_fn=lambda ctx, p: _key(
        "preview", _lib_key(p["library"]), p["dataset"], engine.version_token(p["library"], p["dataset"], p["version"])
    ),
)
def preview_task(library: str, dataset: str, version: int) -> str:
    return engine.preview_step(library, dataset)


@task(name="catalog", **RETRY_TRANSIENT, cache_policy=NO_CACHE)
def catalog_task(library: str) -> dict[str, Any]:
    return engine.catalog_step(library)


def artifact_key(dataset: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes."""
    return dataset.lower().replace("_", "-")


@task(name="tag", cache_policy=NO_CACHE)
def tag_task(library: str, dataset: str, version: int, lock_hash: str) -> str:
    return engine.tag_step(library, dataset, version, lock_hash)


@task(name="gate", **RETRY_TRANSIENT, cache_policy=NO_CACHE)
def gate_task(library: str, registry: str, dataset: str) -> str | None:
    return engine.gate_step(library, registry, dataset)


@task(name="checks", **RETRY_TRANSIENT, cache_policy=NO_CACHE)
def checks_task(library: str, registry: str, dataset: str, version: int) -> CheckReport:
    return engine.checks_step(library, registry, dataset, version)


@task(name="publish", **RETRY_TRANSIENT, cache_policy=NO_CACHE)
def publish_task(library: str, registry: str, dataset: str, report: CheckReport) -> Decision:
    """Publish the candidate on the channel, or quarantine it; the verdict as artifacts and an event."""
    decision = engine.publish_step(library, registry, dataset, report)
    key = artifact_key(dataset)
    create_table_artifact(engine.check_rows(decision), key=f"{key}-checks", description=f"checks of {dataset} version {decision.version}")
    create_markdown_artifact(engine.checks_markdown(decision), key=f"{key}-verdict", description=decision.message())
    emit_event(
        event=PUBLISHED if decision.published else QUARANTINED,
        resource={
            "prefect.resource.id": dataset_resource_id(library, dataset),
            "prefect.resource.name": dataset,
            "pinlake.channel": decision.channel,
            "pinlake.version": str(decision.version),
        },
        payload={**decision.to_dict(), "library": library},
    )
    return decision


@task(name="retention", cache_policy=NO_CACHE)
def retention_task(library: str, registry: str, dataset: str) -> dict[str, Any] | None:
    """The registry entry's ``retention:`` applied after the new version (an explicit, recorded cleanup)."""
    result = engine.retention_step(library, registry, dataset)
    if result is not None and result["removed"]:
        get_run_logger().info("%s retention %s: removed %s", dataset, result["older_than"], result["removed"])
        create_markdown_artifact(
            engine.retention_markdown(dataset, result),
            key=f"{artifact_key(dataset)}-retention",
            description=f"cleanup applied by the registry retention of {dataset}",
        )
    return result


@task(name="artifacts", cache_policy=NO_CACHE)
def artifacts_task(
    library: str, dataset: str, build: engine.BuildStep, lock: LockStep, stats: dict[str, Any] | None, preview: str | None
) -> None:
    key = artifact_key(dataset)
    create_markdown_artifact(
        engine.summary_markdown(library, dataset, build, lock), key=f"{key}-summary", description=f"Refresh of {dataset}"
    )
    if stats is not None:
        create_table_artifact(engine.stats_rows(stats), key=f"{key}-stats", description=f"stats.json of {dataset}")
    if preview:
        create_image_artifact(engine.preview_data_url(preview), key=f"{key}-preview", description=f"preview.png of {dataset}")


#: the refresh slot is a lease the holder renews while it runs; a holder that dies (machine lost,
#: SIGKILL) frees the dataset once its lease runs out (60 s is the server's minimum)
REFRESH_LEASE_SECONDS = 60


@contextmanager
def one_refresh_at_a_time(library: str, dataset: str) -> Iterator[None]:
    """A Prefect global concurrency limit when a server is configured, a file lock otherwise, and
    also on the temporary server of one command (``pinlake demo``), which serves that process alone:
    the operating system frees a file lock when the process dies, a slot waits for its lease."""
    if os.environ.get("PREFECT_API_URL") and os.environ.get(TEMPORARY_SERVER) != os.environ["PREFECT_API_URL"]:
        from prefect.concurrency.sync import concurrency

        name = f"pinlake-refresh-{dataset}"
        _ensure_limit(name)
        lease = float(os.environ.get("PINLAKE_REFRESH_LEASE_SECONDS", REFRESH_LEASE_SECONDS))
        with concurrency(name, occupy=1, strict=False, lease_duration=lease):
            yield
    else:
        with engine.dataset_refresh_lock(library, dataset):
            yield


def _ensure_limit(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with suppress(ObjectAlreadyExists):
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))


@flow(name="refresh", log_prints=True, **RESULT_READ)
def refresh(
    dataset: str,
    library: str = "library",
    registry: str = "recipes/datasets.yaml",
    runner: str | None = None,
    dask_address: str | None = None,
    shards: int | None = None,
) -> dict[str, Any] | State:
    """recipe → lock → (unchanged: stop) → gate → build → stats → preview → tag → catalog →
    (a channel: checks → publish) → artifacts → retention.

    With a ``channel:`` in the registry entry the new version is a candidate until its checks pass:
    then the channel moves to it (event ``pinlake.dataset.published``); else it is quarantined, the
    channel stays, and the run ends Failed naming the failed checks (event
    ``pinlake.dataset.quarantined``).

    ``runner``: "local" or "dask" (the build runs in shards on the Dask scheduler at
    ``dask_address``); unset, the registry entry's ``runner``/``dask_address`` (default local), the
    address then from ``$PINLAKE_DASK_ADDRESS``. The other steps are light and stay in the flow run.
    """
    logger = get_run_logger()
    mark_lineage()
    library, registry = str(library), str(registry)
    # the unchanged check first, outside the concurrency slot: a no-op refresh only reads
    # (a concurrent refresh of the same lock finds it built and stays a no-op in build_from_lock)
    lock = lock_task(library, registry, dataset)
    current = engine.unchanged_step(library, dataset, lock)
    if current is not None:
        gate_task(library, registry, dataset)
        if engine.audit_pending(library, registry, dataset) is None:
            logger.info("%s unchanged: lock %s is version %s", dataset, lock.lock_hash[:12], current.version)
            catalog_task(library)
            artifacts_task(library, dataset, current, lock, None, None)
            out = engine.unchanged_result(library, dataset, current.version, lock.lock_hash)
            write_stamp(library, registry, dataset, lock, out.get("status", ""))
            return out
    with one_refresh_at_a_time(library, dataset):
        channel = gate_task(library, registry, dataset)
        if current is None:
            base_version, _ = engine.latest_version(library, dataset)
            build = build_task(library, registry, dataset, lock, base_version, runner, dask_address, shards)
            if not engine.has_version(library, dataset, build.version, lock.lock_hash):
                # a cached result from a run on this path before the library was restored or made again
                logger.info("%s: cached build result names version %s, which this library lacks: building", dataset, build.version)
                build = build_task.with_options(refresh_cache=True)(
                    library, registry, dataset, lock, base_version, runner, dask_address, shards
                )
            stats = stats_task(library, dataset, build.version)
            preview = preview_task(library, dataset, build.version)
        else:  # built before, its verdict missing (a run stopped between the build and the publish)
            build, stats, preview = current, None, None
        tag = tag_task(library, dataset, build.version, lock.lock_hash)
        catalog_task(library)
        decision = None
        if channel is not None and engine.audit_pending(library, registry, dataset) == build.version:
            decision = publish_task(library, registry, dataset, checks_task(library, registry, dataset, build.version))
        artifacts_task(library, dataset, build, lock, stats, preview)
        retention = retention_task(library, registry, dataset)  # last: the summary diffs against the previous version
        status = decision.status if decision else engine.version_status(library, dataset, build.version)
        write_stamp(library, registry, dataset, lock, status)
    result = engine.refresh_result(dataset, build, lock, tag, retention, decision)
    if decision is not None and not decision.published:
        logger.error("%s", decision.message())
        return Failed(message=decision.message(), data=result)
    logger.info("%s version %s built from lock %s (tag %s, runner %s)", dataset, build.version, lock.lock_hash[:12], tag, build.runner)
    return result


def quarantined(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in results if r.get("status") == "quarantined" and not r.get("unchanged")]


def run_result(state: State) -> dict[str, Any]:
    """A refresh run's result: also that of a run Failed by a quarantine (other failures raise)."""
    if state.is_failed():
        data = state.result(raise_on_failure=False)
        if isinstance(data, dict) and data.get("status") == "quarantined":
            return data
    return state.result()


@flow(name="refresh-all", task_runner=ThreadPoolTaskRunner(max_workers=2), **RESULT_READ)
def refresh_all(
    library: str = "library",
    registry: str = "recipes/datasets.yaml",
    max_workers: int = 2,
    runner: str | None = None,
    dask_address: str | None = None,
) -> list[dict[str, Any]] | State:
    """Refresh every dataset of the registry, as subflows, at most ``max_workers`` at a time; Failed
    (after all ran) when a gated refresh quarantined its candidate."""
    names = engine.registry_names(registry)

    @task(name="refresh-subflow", cache_policy=NO_CACHE)
    def one(name: str) -> dict[str, Any]:
        return run_result(refresh(name, library, registry, runner, dask_address, return_state=True))

    results: list[dict[str, Any]] = []
    for start in range(0, len(names), max(1, max_workers)):
        futures = [one.submit(n) for n in names[start : start + max_workers]]
        wait(futures)
        results += [f.result() for f in futures]
    bad = quarantined(results)
    if bad:
        return Failed(message="; ".join(r["message"] for r in bad), data=results)
    return results
