"""maintain(library): compact what many small writes leave, on a schedule (the ``maintain`` deployment)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.policy import RESULT_READ, RETRY
from flows.runtime import mark_lineage
from pinlake.library.maintain import FRAGMENTS, maintain_library


@task(name="compact", **RETRY, cache_policy=NO_CACHE)
def compact_task(library: str, fragments: int) -> dict[str, Any]:
    return maintain_library(library, fragments=fragments).to_dict()


@flow(name="maintain", **RESULT_READ)
def maintain(library: str = "library", fragments: int = FRAGMENTS) -> dict[str, Any]:
    """Compact the library's datasets (each a new version, older ones readable), lake and catalog."""
    mark_lineage()
    report = compact_task(str(library), fragments)
    get_run_logger().info("maintain: %s", report)
    lines = [f"- {name}: version {report['versions'][name]} ({', '.join(report['datasets'][name])})" for name in report["datasets"]]
    lines += [f"- lake: {', '.join(report['lake'])}"] if report["lake"] else []
    lines += [f"- catalog: {', '.join(report['catalog'])}"] if report["catalog"] else []
    create_markdown_artifact("# Maintain\n\n" + ("\n".join(lines) or "nothing to compact") + "\n", key="maintain-summary")
    return report
