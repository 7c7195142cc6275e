"""Deployments of the refresh flow, one per registry entry: its cron schedule plus a trigger on
``pinlake.lake.updated`` (parameters templated from the event); and for each entry with a
``channel:``, a ``train-<name>`` deployment of the downstream stub :func:`flows.train.train`,
triggered by ``pinlake.dataset.published`` for that dataset. Used by ``serve`` and by
``pinlake deploy`` (which writes ``infra/prefect.yaml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pinlake.errors import ValidationError
from pinlake.library.registry import Registry

LAKE_UPDATED = "pinlake.lake.updated"
PUBLISHED = "pinlake.dataset.published"  # flows.refresh.PUBLISHED (not imported: deploy loads no flow)
#: when the maintain deployment compacts the library: daily, at night (UTC)
MAINTAIN_SCHEDULE = "17 3 * * *"


def check_cron(name: str, schedule: str) -> str:
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=schedule)
    except ValueError:
        raise ValidationError(
            f"registry entry {name!r}: schedule {schedule!r} is not a cron expression",
            hint="Use five fields, e.g. '0 3 * * *' for 03:00 every day.",
        ) from None
    return schedule


def entries(registry: str) -> list[Any]:
    reg = Registry(registry)
    out = []
    for entry in reg:
        if entry.schedule:
            check_cron(entry.name, entry.schedule)
        out.append(entry)
    return out


def runner_params(entry: Any) -> dict[str, Any]:
    """The entry's build runner as flow parameters (none for the default local runner)."""
    if entry.runner == "local":
        return {}
    return {"runner": entry.runner, **({"dask_address": entry.dask_address} if entry.dask_address else {})}


def trigger_spec() -> dict[str, Any]:
    return {
        "type": "event",
        "enabled": True,
        "match": {"prefect.resource.id": "pinlake.lake.*"},
        "expect": [LAKE_UPDATED],
        "posture": "Reactive",
        "threshold": 1,
        "within": 0,
    }


def published_trigger(entry: Any) -> dict[str, Any]:
    """The trigger of ``train-<name>``: a publish of that dataset on its channel, in any library."""
    return {
        "type": "event",
        "enabled": True,
        "match": {"prefect.resource.id": "pinlake.dataset.*", "prefect.resource.name": entry.name, "pinlake.channel": entry.channel},
        "expect": [PUBLISHED],
        "posture": "Reactive",
        "threshold": 1,
        "within": 0,
    }


def train_params() -> dict[str, str]:
    """The train run's parameters, from the event: the dataset, channel and library that published."""
    return {
        "dataset": "{{ event.resource.name }}",
        "channel": "{{ event.payload.channel }}",
        "library": "{{ event.payload.library }}",
    }


def prefect_yaml(registry: str, library: str, work_pool: str = "pinlake-process") -> dict[str, Any]:
    """The content of infra/prefect.yaml for this registry."""
    deployments = []
    for entry in entries(registry):
        params = {"dataset": entry.name, "library": library, "registry": registry, **runner_params(entry)}
        dep: dict[str, Any] = {
            "name": f"refresh-{entry.name}",
            "description": entry.description or f"Refresh {entry.name}",
            "entrypoint": "flows/refresh.py:refresh",
            "parameters": params,
            "work_pool": {"name": work_pool},
            "concurrency_limit": 1,
            "triggers": [{**trigger_spec(), "parameters": {**params, "library": "{{ event.payload.library }}"}}],
        }
        if entry.schedule:
            dep["schedules"] = [{"cron": entry.schedule, "timezone": "UTC", "active": True}]
        deployments.append(dep)
        if entry.channel:
            deployments.append(
                {
                    "name": f"train-{entry.name}",
                    "description": f"Downstream of {entry.name}: starts when a version is published on {entry.channel!r}",
                    "entrypoint": "flows/train.py:train",
                    "parameters": {"dataset": entry.name, "channel": entry.channel, "library": library},
                    "work_pool": {"name": work_pool},
                    "triggers": [{**published_trigger(entry), "parameters": train_params()}],
                }
            )
    deployments.append(
        {
            "name": "ingest",
            "entrypoint": "flows/ingest.py:ingest",
            "work_pool": {"name": work_pool},
            "parameters": {"paths_or_prefix": [], "library": library},
            "description": "Upload files or import a bucket prefix into the lake; emits pinlake.lake.updated",
        }
    )
    deployments.append(
        {
            "name": "maintain",
            "entrypoint": "flows/maintain.py:maintain",
            "work_pool": {"name": work_pool},
            "parameters": {"library": library},
            "description": "Compact the tables many small writes leave fragmented (datasets, lake, catalog)",
            "schedules": [{"cron": MAINTAIN_SCHEDULE, "timezone": "UTC", "active": True}],
            "concurrency_limit": 1,
        }
    )
    return {
        "name": "pinlake",
        "prefect-version": "3.8.8",
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $PINLAKE_REPO }}"}}],
        "deployments": deployments,
    }


def write_prefect_yaml(path: Path, registry: str, library: str, work_pool: str = "pinlake-process") -> str:
    text = "# Generated by `pinlake deploy` from recipes/datasets.yaml; edit the registry, not this file.\n"
    text += yaml.safe_dump(prefect_yaml(registry, library, work_pool), sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def runner_deployments(registry: str, library: str) -> list[Any]:
    """RunnerDeployments for `serve(...)`: per entry its cron plus the lake-updated trigger."""
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    from flows.ingest import ingest  # lazy: `pinlake deploy` writes prefect.yaml without loading the flows
    from flows.maintain import maintain  # lazy: as above
    from flows.refresh import refresh  # lazy: as above
    from flows.train import train  # lazy: as above

    out = []
    for entry in entries(registry):
        params = {"dataset": entry.name, "library": library, "registry": registry, **runner_params(entry)}
        trigger = DeploymentEventTrigger(
            expect={LAKE_UPDATED},
            match={"prefect.resource.id": "pinlake.lake.*"},
            parameters={**params, "library": "{{ event.payload.library }}"},
        )
        out.append(
            refresh.to_deployment(
                name=f"refresh-{entry.name}", cron=entry.schedule, parameters=params, triggers=[trigger], concurrency_limit=1
            )
        )
        if entry.channel:
            spec = published_trigger(entry)
            published = DeploymentEventTrigger(expect=set(spec["expect"]), match=spec["match"], parameters=train_params())
            out.append(
                train.to_deployment(
                    name=f"train-{entry.name}",
                    parameters={"dataset": entry.name, "channel": entry.channel, "library": library},
                    triggers=[published],
                )
            )
    out.append(ingest.to_deployment(name="ingest", parameters={"paths_or_prefix": [], "library": library}))
    out.append(maintain.to_deployment(name="maintain", parameters={"library": library}, cron=MAINTAIN_SCHEDULE, concurrency_limit=1))
    return out
