"""Channels without Prefect: the same write–audit–publish chain `pinlake refresh` runs in this process
(pinlake.library.refresh.refresh_dataset), and what readers, tags, retention and SQL make of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pinlake
from pinlake.errors import InvalidQueryError, NotFoundError, ValidationError
from pinlake.library import Library
from pinlake.library.cleanup import protected_versions
from pinlake.library.publish import needs_audit, publish
from pinlake.library.refresh import refresh_dataset
from pinlake.library.registry import Registry
from pinlake.library.tag import tag_version
from pinlake.library.versions import channel_state, list_versions, resolve, resolve_read
from pinlake.storage import lance_dataset

GATE = "  channel: prod\n  checks:\n    min_items: {n}\n    no_split_leakage: true\n"


def gated(project, n: int = 2) -> tuple[Path, Path]:
    library, registry, _ = project()
    base = registry.read_text()
    registry.write_text(base + GATE.format(n=n))
    return library, registry


def drop_one(library: Path) -> None:
    """A new version: one item fewer (a CRUD batch)."""
    ds = Library(library).get_dataset("health_by_tag")
    ds.delete_dataset_items([ds.to_arrow("item", columns=["id"]).column("id")[0].as_py()])


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250"}  # the versions table on one line per row
    return subprocess.run([sys.executable, "-m", "pinlake", *args], capture_output=True, text=True, env=env, timeout=300)


def test_quarantine_then_relaxed_checks_publish_the_same_version(project):
    library, registry = gated(project, n=10_000)
    first = refresh_dataset(library, registry, "health_by_tag")
    assert first["status"] == "quarantined" and first["failed"] == ["min_items"] and "min_items = 12" in first["message"]
    path = library / "health_by_tag"
    assert [(v["status"], v["failed_checks"]) for v in list_versions(path)] == [("quarantined", ["min_items"])]
    with pytest.raises(NotFoundError, match="no version published on its channel 'prod'") as err:
        resolve_read(path)
    assert "health_by_tag@latest" in err.value.hint
    assert resolve(path, "latest").dataset_version == 1
    # nothing changed: a no-op that keeps the verdict (and says so)
    again = refresh_dataset(library, registry, "health_by_tag")
    assert again["unchanged"] and again["status"] == "quarantined"
    # the checks relaxed, the lock the same: the version is audited again and published
    registry.write_text(registry.read_text().replace("min_items: 10000", "min_items: 2"))
    assert needs_audit(library, "health_by_tag", Registry(registry).get("health_by_tag")) == 1
    third = refresh_dataset(library, registry, "health_by_tag")
    assert third["status"] == "published" and third["version"] == 1
    assert resolve_read(path).dataset_version == 1 and pinlake.open("health_by_tag@prod", library=library).version == 1
    # the channel's Lance tag is on every table at the version's table version
    entry = resolve(path, 1)
    for table, v in entry.tables.items():
        assert lance_dataset(str(path / "db" / f"{table}.lance")).tags.list()["prod"]["version"] == v
    # retention keeps the published version
    assert "tag prod" in protected_versions(path)[1]


def test_tags_cannot_take_a_channel_or_latest(project):
    library, registry = gated(project)
    refresh_dataset(library, registry, "health_by_tag")
    path = library / "health_by_tag"
    with pytest.raises(ValidationError, match="channel"):
        tag_version(path, 1, "prod")
    with pytest.raises(ValidationError, match="latest"):
        tag_version(path, 1, "latest")
    tag_version(path, 1, "v1.0")
    assert pinlake.open("health_by_tag@v1.0", library=library).version == 1


def test_candidate_until_audited_and_ungating_serves_the_latest(project):
    from pinlake.library.publish import gate

    library, registry = gated(project)
    gate(library, "health_by_tag", "prod")  # gated before the first build, as a refresh does
    from pinlake.library.lock import lock_step
    from pinlake.library.refresh import build_step

    lock = lock_step(str(library), str(registry), "health_by_tag")
    build_step(library, registry, "health_by_tag", lock.lock_dir)
    path = library / "health_by_tag"
    assert channel_state(path).status(resolve(path, 1)) == "candidate"
    with pytest.raises(NotFoundError):
        pinlake.open("health_by_tag", library=library)  # a candidate is never the bare name
    assert pinlake.open("health_by_tag@latest", library=library).version == 1
    # a killed refresh left the candidate unaudited: the rerun audits it, without building again
    out = refresh_dataset(library, registry, "health_by_tag")
    assert out["status"] == "published" and out["version"] == 1 and len(list_versions(path)) == 1
    # the entry drops its channel: the next refresh records it and the bare name is the latest again
    registry.write_text(registry.read_text()[: registry.read_text().index("  channel:")])
    refresh_dataset(library, registry, "health_by_tag")
    assert channel_state(path).channel is None and pinlake.open("health_by_tag", library=library).version == 1


def test_sql_hides_an_unpublished_gated_dataset_until_asked_for_latest(project):
    library, registry = gated(project, n=10_000)
    refresh_dataset(library, registry, "health_by_tag")
    assert pinlake.sql("SELECT 1 AS one", library=library).to_pylist() == [{"one": 1}]
    with pytest.raises(InvalidQueryError):
        pinlake.sql("SELECT count(*) FROM health_by_tag.item", library=library)
    n = pinlake.sql("SELECT count(*) AS n FROM health_by_tag.item", library=library, at={"health_by_tag": "latest"}).to_pylist()
    assert n == [{"n": 12}]
    rows = pinlake.sql(
        "SELECT name, status, blocking FROM catalog.checks WHERE dataset = 'health_by_tag' ORDER BY name", library=library
    ).to_pylist()
    assert rows == [
        {"name": "min_items", "status": "fail", "blocking": True},
        {"name": "no_split_leakage", "status": "pass", "blocking": False},
    ]


def test_publish_errors_are_one_line_with_a_hint(project):
    library, registry, _ = project()
    refresh_dataset(library, registry, "health_by_tag")  # ungated
    with pytest.raises(ValidationError, match="no `channel:`") as err:
        publish(library, "health_by_tag@1", registry=registry)
    assert err.value.hint and "--channel" in err.value.hint
    with pytest.raises(ValidationError, match="name the version"):
        publish(library, "health_by_tag", "prod", registry=registry)
    with pytest.raises(NotFoundError):
        publish(library, "health_by_tag@9", "prod", registry=registry)
    with pytest.raises(ValidationError, match="is reserved"):
        publish(library, "health_by_tag@1", "latest", registry=registry)
    # an ungated dataset may still be published on a channel by hand (no checks declared: it passes)
    decision = publish(library, "health_by_tag@1", "stable", registry=registry)
    assert decision.published and pinlake.open("health_by_tag@stable", library=library).version == 1
    assert pinlake.open("health_by_tag", library=library).version == 1  # not gated: the bare name is the latest


def test_refresh_and_versions_cli_show_the_verdict(project):
    library, registry = gated(project, n=10_000)
    base = ["--registry", str(registry), "--library", str(library)]
    out = cli("refresh", "health_by_tag", *base, "--local")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "quarantined" in out.stdout and "min_items" in out.stdout and "Traceback" not in out.stderr
    table = cli("versions", "health_by_tag", "--library", str(library))
    assert table.returncode == 0 and "quarantined (min_items)" in " ".join(table.stdout.split())
    rows = json.loads(cli("versions", "health_by_tag", "--library", str(library), "--json").stdout)
    assert rows[0]["status"] == "quarantined" and rows[0]["failed_checks"] == ["min_items"]


def test_a_tag_named_like_the_channel_never_resolves_it(project):
    """A user tag `prod` made before the dataset was gated: once gated, `@prod` is the channel's
    published version only (here none: the candidate was quarantined), never the tag's."""
    library, registry, _ = project()
    refresh_dataset(library, registry, "health_by_tag")  # ungated: version 1
    tag_version(library / "health_by_tag", 1, "prod")
    registry.write_text(registry.read_text() + GATE.format(n=10_000))
    assert refresh_dataset(library, registry, "health_by_tag")["status"] == "quarantined"
    with pytest.raises(NotFoundError):
        pinlake.open("health_by_tag@prod", library=library)


def test_events_keep_their_order_whatever_the_clocks(project, monkeypatch):
    """Publications are ordered by a number given under the catalog lock, not by the writer's clock:
    a publish from a machine whose clock is ahead does not outrank a later one."""
    import datetime as dt

    import pinlake.library.publish as publish_module

    library, registry = gated(project)
    refresh_dataset(library, registry, "health_by_tag")  # version 1 published
    real = publish_module.utcnow
    monkeypatch.setattr(publish_module, "utcnow", lambda: real() + dt.timedelta(minutes=5))  # a fast clock
    assert publish(library, "health_by_tag@1", registry=registry).published
    monkeypatch.setattr(publish_module, "utcnow", real)
    drop_one(library)  # version 2
    assert publish(library, "health_by_tag@2", registry=registry).published
    assert channel_state(library / "health_by_tag").published == {"prod": 2}
    assert pinlake.open("health_by_tag", library=library).version == 2


def test_publish_refuses_bad_channel_names_and_a_channel_that_moved(project):
    from pinlake.errors import PinlakeError
    from pinlake.library.check import check_dataset
    from pinlake.library.publish import decide

    library, registry = gated(project)
    refresh_dataset(library, registry, "health_by_tag")
    path = library / "health_by_tag"
    tag_version(path, 1, "v1.0")
    for bad in ("has space", "lock-abc", "12"):
        with pytest.raises(ValidationError):
            publish(library, "health_by_tag@1", bad, registry=registry, force=True, reason="x")
    with pytest.raises(ValidationError, match="is a tag"):
        publish(library, "health_by_tag@1", "v1.0", registry=registry, force=True, reason="x")
    before = pinlake.sql("SELECT count(*) AS n FROM catalog.publications", library=library).to_pylist()
    # a report made while prod was at 1; meanwhile a forced publish moves prod to 2: the stale verdict is refused
    drop_one(library)  # version 2
    stale = check_dataset(library, "health_by_tag@2", registry=Registry(registry))
    assert stale.channel_version == 1
    publish(library, "health_by_tag@2", registry=registry, force=True, reason="rollforward")
    drop_one(library)  # version 3
    stale3 = check_dataset(library, "health_by_tag@3", registry=Registry(registry))
    publish(library, "health_by_tag@1", registry=registry, force=True, reason="rollback")  # prod moves while 3 waits
    with pytest.raises(PinlakeError, match="moved to version 1"):
        decide(path, stale3, "prod")
    after = pinlake.sql("SELECT count(*) AS n FROM catalog.publications", library=library).to_pylist()
    assert after[0]["n"] == before[0]["n"] + 2  # the two forced publishes, not the stale verdict
    assert pinlake.open("health_by_tag@prod", library=library).version == 1
