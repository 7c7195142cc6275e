"""The refresh steps as plain engine calls (no Prefect)."""

import pytest
from lake_changes import upload_extra_image

from pinlake.errors import NotFoundError
from pinlake.library import refresh as engine
from pinlake.library.ingest import ingest_step, process_step
from pinlake.library.lock import LockStep, lock_step


def test_steps_lock_build_unchanged_tag(project):
    library, registry, assets = project()
    lock = lock_step(library, registry, "health_by_tag")
    assert len(lock.lock_hash) == 64 and sum(lock.counts.values()) == 12
    build = engine.build_step(library, registry, "health_by_tag", lock.lock_dir)
    assert build.version == 1 and not build.unchanged and build.rows["item"] == 12
    assert engine.latest_version(library, "health_by_tag") == (1, lock.lock_hash)
    assert not engine.needs_finalize(library, "health_by_tag")  # the version committed with its stats and preview
    stats = engine.stats_step(library, "health_by_tag")
    engine.preview_step(library, "health_by_tag")
    assert stats["num_items"] == 12 and not engine.needs_finalize(library, "health_by_tag")
    assert engine.tag_step(library, "health_by_tag", 1, lock.lock_hash) == f"lock-{lock.lock_hash[:8]}"
    assert engine.tag_step(library, "health_by_tag", 1, lock.lock_hash) == f"lock-{lock.lock_hash[:8]}"  # idempotent
    again = lock_step(library, registry, "health_by_tag")
    assert again.lock_hash == lock.lock_hash
    current = engine.unchanged_step(library, "health_by_tag", again)
    assert current is not None and current.unchanged and current.version == 1 and current.rows["item"] == 12
    same = engine.build_step(library, registry, "health_by_tag", again.lock_dir)
    assert same.unchanged and same.version == 1
    md = engine.summary_markdown(library, "health_by_tag", same, again)
    assert "Unchanged" in md and lock.lock_hash in md
    assert any(r["measure"] == "items" and r["value"] == 12 for r in engine.stats_rows(stats))
    assert engine.preview_data_url(library / "health_by_tag" / "preview.png").startswith("data:image/png;base64,")


def test_changed_lake_makes_incremental_version_with_diff(project, tmp_path):

    library, registry, assets = project()
    lock = lock_step(library, registry, "health_by_tag")
    engine.build_step(library, registry, "health_by_tag", lock.lock_dir)
    upload_extra_image(library, assets, tmp_path)
    lock2 = lock_step(library, registry, "health_by_tag")
    assert lock2.lock_hash != lock.lock_hash
    build = engine.build_step(library, registry, "health_by_tag", lock2.lock_dir)
    assert build.version == 2 and build.added == 1 and build.previous_version == 1
    md = engine.summary_markdown(library, "health_by_tag", build, lock2)
    assert "| item | 1 | 0 | 0 |" in md


def test_a_rowwise_recipe_is_locked_from_its_previous_lock_and_built_from_the_recorded_changes(project, tmp_path, monkeypatch):
    """health_by_tag is rowwise=True: the second lock runs the recipe over the changed images only
    (its manifest names its parent), the build reads the changes recorded beside the lock instead
    of diffing both locks, and the dataset equals a whole build of the same lock."""
    from pinlake.library import Library
    from pinlake.library import build as build_mod
    from pinlake.recipes.lockfile import read_lock

    library, registry, assets = project()
    lock = lock_step(library, registry, "health_by_tag")
    engine.build_step(library, registry, "health_by_tag", lock.lock_dir)
    lake = Library(library).get_datalake()
    first = sorted(lake.select("object_name LIKE 'health/%'", columns=["object_name"])["object_name"].to_pylist())
    changed = tmp_path / "changed.jpg"
    changed.write_bytes(next((assets / "train").glob("*.jpg")).read_bytes() + b"\0\1")
    lake.upload_data(
        [str(changed)],
        tags=["mri"],
        object_names=[first[0]],
        metadata={"image_type": "mri", "objects": {"category": [], "bbox": [], "keypoints": []}},
    )
    lake.list_data(object_names=[first[1]]).remove_tags(["mri", "xray", "microscope", "dermatology"])
    lock2 = lock_step(library, registry, "health_by_tag")
    manifest = read_lock(lock2.lock_dir).manifest
    assert manifest["parent"] == {"hash": lock.lock_hash, "touched": 2}

    def no_full_diff(*_a, **_k):
        raise AssertionError("the build diffed both locks")

    monkeypatch.setattr(build_mod, "lock_diff", no_full_diff)
    build = engine.build_step(library, registry, "health_by_tag", lock2.lock_dir)
    assert (build.version, build.updated, build.deleted, build.added) == (2, 1, 1, 0)
    whole = build_mod.build_from_lock(Library(library), lock2.lock_dir, "whole_copy", compute_stats=False).dataset
    inc = Library(library).get_dataset("health_by_tag")
    assert set(inc.tables) == set(whole.tables) and inc.state.rows == whole.state.rows
    for t in inc.tables:  # the same rows; only the times they were written differ
        a, b = (d.to_arrow(t).drop_columns(["created_at", "updated_at"]).sort_by("id") for d in (inc, whole))
        assert a.num_rows and a.equals(b), t


def test_unknown_dataset_and_prefect_free_engine(project, tmp_path):
    import json
    import os
    import subprocess
    import sys

    library, registry, _ = project()
    with pytest.raises(NotFoundError):
        lock_step(library, registry, "nope")
    # a whole refresh, a pin read and a pins file in a fresh process load neither Prefect nor the flows,
    # whatever the engine modules import at call time (the environment is the suite's: conftest.py
    # removed the user's PREFECT_* / PINLAKE_* variables)
    code = (
        "import json, sys\n"
        "import pinlake, pinlake.library.build, pinlake.library.lock, pinlake.library.pin, pinlake.library.refresh\n"
        f"result = pinlake.library.refresh.refresh_dataset({str(library)!r}, {str(registry)!r}, 'health_by_tag')\n"
        f"pinned = pinlake.library.pin.open('health_by_tag@1', library={str(library)!r})\n"
        f"pinlake.library.pin.write_pin('health_by_tag@1', {str(tmp_path / 'pins.yaml')!r}, {str(library)!r})\n"
        "print(json.dumps({'version': result['version'], 'items': pinned.to_arrow('item').num_rows,\n"
        "                  'loaded': sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'flows'})}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert (out["version"], out["items"]) == (1, 12)  # the refresh ran: the 8 + 4 demo files
    assert out["loaded"] == []


def test_deploy_yaml_and_bad_cron(project):
    from flows.deployments import prefect_yaml
    from pinlake.errors import PinlakeError

    library, registry, _ = project(n_train=2, n_test=1)
    spec = prefect_yaml(str(registry), str(library))
    dep = spec["deployments"][0]
    assert dep["name"] == "refresh-health_by_tag" and dep["schedules"][0]["cron"] == "0 3 * * *"
    assert dep["triggers"][0]["expect"] == ["pinlake.lake.updated"]
    assert dep["triggers"][0]["parameters"]["library"] == "{{ event.payload.library }}"
    registry.write_text(registry.read_text().replace('"0 3 * * *"', '"every night"'))
    with pytest.raises(PinlakeError) as exc:  # the registry (and `pinlake deploy`) refuse it, naming the entry
        prefect_yaml(str(registry), str(library))
    assert "health_by_tag" in str(exc.value) and "schedule" in str(exc.value)


def test_process_and_ingest_steps(project, tmp_path):
    from pinlake.library import Library

    library, _, assets = project(n_train=2, n_test=1)
    out = process_step(library, "image-stats", q="object_name LIKE 'health/%'")
    assert out["status"] == "success" and out["processed"] == 3
    lake = Library(library).get_datalake()
    listed = lake.list_data()
    wide = sorted(d.id for d in listed if (d.width or 0) > 250)
    assert 0 < len(wide) < len(listed)  # the predicate splits the demo files
    tagged = process_step(library, "auto-tag", parameters={"tag": "wide", "where": "width > 250"})
    assert (tagged["status"], tagged["processed"], tagged["updated"], tagged["failed"]) == ("success", len(listed), len(wide), 0)
    assert sorted(d.id for d in lake.list_data(tags=["wide"])) == wide
    files = sorted((assets / "train").iterdir())  # the images and their metadata.jsonl
    res = ingest_step(library, [str(assets / "train"), str(tmp_path / "nope.png")], ["again"], "cam", object_prefix="drop")
    assert res["data"] == len(files) and len(res["errors"]) == 1 and res["errors"][0]["path"].endswith("nope.png")


def test_lock_step_reuses_the_lock_of_same_recipe_and_lake_version(project):
    """Same recipe file + same lake version ⇒ the latest version's lock is reused, the recipe is not run."""
    import os
    from pathlib import Path

    library, registry, _ = project()
    lock = lock_step(library, registry, "health_by_tag")
    engine.build_step(library, registry, "health_by_tag", lock.lock_dir)
    files = sorted(Path(lock.lock_dir).glob("resources.*.jsonl"))
    inodes = [os.stat(f).st_ino for f in files]
    again = lock_step(library, registry, "health_by_tag")
    assert (again.lock_hash, again.lock_dir, again.counts) == (lock.lock_hash, lock.lock_dir, lock.counts)
    assert [os.stat(f).st_ino for f in files] == inodes  # not rewritten: the recipe did not run
    # an edited recipe file runs again (and here writes the same selection: same hash, files rewritten)
    script = registry.parent / "health_by_tag.py"
    script.write_text(script.read_text() + "\n# edited\n")
    edited = lock_step(library, registry, "health_by_tag")
    assert edited.lock_hash == lock.lock_hash and [os.stat(f).st_ino for f in files] != inodes


def test_refresh_stamp_holds_until_the_lake_recipe_dataset_or_stats_change(project, tmp_path):
    """The no-op fast check answers from files only, and any commit since the stamp voids it."""
    import json

    from pinlake.datasets.versions import VersionLog
    from pinlake.library import Library
    from pinlake.library import refresh_stamp as stamps

    library, registry, assets = project()
    lock = lock_step(library, registry, "health_by_tag")
    engine.build_step(library, registry, "health_by_tag", lock.lock_dir)
    stale = LockStep(lock.dataset, lock.lock_hash, lock.lock_dir, lock.lake_version + 1, lock.counts)
    assert not stamps.write_stamp(library, registry, "health_by_tag", stale)  # lock of another lake version
    assert stamps.write_stamp(library, registry, "health_by_tag", lock)
    stamp = stamps.quick_unchanged(library, registry, "health_by_tag")
    assert stamp is not None and (stamp["version"], stamp["lock_hash"], stamp["counts"]) == (1, lock.lock_hash, lock.counts)
    lake = Library(library).get_datalake()
    assert stamps.latest_manifest_version(stamps.manifests(library / "_lake" / "data.lance")) == lake.version == lock.lake_version
    # the recipe file edited (even back and forth) → unsure while it differs
    script = registry.parent / "health_by_tag.py"
    text = script.read_text()
    script.write_text(text + "\n# edited\n")
    assert stamps.quick_unchanged(library, registry, "health_by_tag") is None
    script.write_text(text)
    assert stamps.quick_unchanged(library, registry, "health_by_tag") is not None
    # the version's stats.json naming another version → unsure
    stats_path = library / "health_by_tag" / "_meta" / "1" / "stats.json"
    stats = json.loads(stats_path.read_text())
    stats_path.write_text(json.dumps({**stats, "dataset_version": 0}))
    assert stamps.quick_unchanged(library, registry, "health_by_tag") is None
    stats_path.write_text(json.dumps(stats))
    # a new dataset version (a tag is not one; a CRUD commit or build is) → unsure
    log_before = stamps.manifests(library / "health_by_tag" / "_versions.lance")
    engine.tag_step(library, "health_by_tag", 1, lock.lock_hash)
    assert stamps.manifests(library / "health_by_tag" / "_versions.lance") == log_before
    # the lake changed → unsure, and the lake version read from the manifests follows Lance's
    upload_extra_image(library, assets, tmp_path)
    assert stamps.quick_unchanged(library, registry, "health_by_tag") is None
    assert stamps.latest_manifest_version(stamps.manifests(library / "_lake" / "data.lance")) == Library(library).get_datalake().version
    lock2 = lock_step(library, registry, "health_by_tag")
    engine.build_step(library, registry, "health_by_tag", lock2.lock_dir)
    assert len(VersionLog(library / "health_by_tag").entries()) == 2
    assert stamps.manifests(library / "health_by_tag" / "_versions.lance") != log_before
    (library / "health_by_tag" / "_meta" / "2" / "preview.png").unlink()
    assert not stamps.write_stamp(library, registry, "health_by_tag", lock2)  # version 2 has no preview
    engine.preview_step(library, "health_by_tag")  # drawn again for that version
    assert stamps.write_stamp(library, registry, "health_by_tag", lock2)
    assert stamps.quick_unchanged(library, registry, "health_by_tag")["version"] == 2
    assert stamps.latest_manifest_version(["3.manifest", "12.manifest"]) == 12  # Lance's V1 naming
    assert stamps.quick_unchanged("s3://bucket/lib", registry, "health_by_tag") is None


def test_maintain_leaves_the_dataset_current_and_the_next_change_is_built_from_its_lock(project, tmp_path, monkeypatch):
    """`pinlake maintain` compacts and indexes the lake and the dataset: the dataset's new version
    keeps the lock of the version it compacts, so the refresh after it neither runs the recipe (the
    lake's rows are those it was locked from) nor builds again; a real change after it is built."""
    from pinlake.datasets.versions import VersionLog
    from pinlake.library import Library
    from pinlake.library import refresh_stamp as stamps
    from pinlake.library.maintain import maintain_library
    from pinlake.provenance import CONTENT_KEYS
    from pinlake.recipes import lockfile

    library, registry, assets = project()
    first = engine.refresh_dataset(library, registry, "health_by_tag")
    lake_before = Library(library).get_datalake().version
    manifest = (library / "_locks" / first["lock_hash"] / "lock.json").read_bytes()
    report = maintain_library(library, fragments=1)
    assert report.lake and report.versions == {"health_by_tag": 2}
    assert Library(library).get_datalake().version > lake_before
    log = VersionLog(library / "health_by_tag")
    built, compacted = log.entries()
    assert compacted.operation == "maintain"
    assert {k: compacted.lineage.get(k) for k in CONTENT_KEYS} == {k: built.lineage.get(k) for k in CONTENT_KEYS}
    assert compacted.lock_hash == first["lock_hash"]

    runs: list[object] = []
    real = lockfile.lock_recipe
    monkeypatch.setattr(lockfile, "lock_recipe", lambda *a, **k: runs.append(a) or real(*a, **k))
    again = engine.refresh_dataset(library, registry, "health_by_tag")
    assert again["unchanged"] and again["version"] == 2 and again["lock_hash"] == first["lock_hash"]
    assert runs == [] and len(log.entries()) == 2  # no recipe run, no new version
    assert (library / "_locks" / first["lock_hash"] / "lock.json").read_bytes() == manifest  # the lock left as it was
    assert stamps.quick_unchanged(library, registry, "health_by_tag")["version"] == 2  # the next no-op is the fast one
    # a lake made again at that root (another identity) reaching past the lock's version: not its lock
    from pinlake.library.lock import same_inputs_lock

    ident = library / "_lake" / "lake.json"
    mine = ident.read_text()
    script = registry.parent / "health_by_tag.py"
    assert same_inputs_lock(Library(library), "health_by_tag", script, Library(library).get_datalake()) is not None
    ident.write_text('{"id": "another-lake"}\n')
    assert same_inputs_lock(Library(library), "health_by_tag", script, Library(library).get_datalake()) is None
    ident.write_text(mine)

    upload_extra_image(library, assets, tmp_path)
    changed = engine.refresh_dataset(library, registry, "health_by_tag")
    assert not changed["unchanged"] and changed["version"] == 3 and changed["previous_version"] == 2
    assert len(runs) == 1
    assert log.entries()[-1].operation == "build:lock-incremental"  # from the compacted version's lock
    assert Library(library).get_dataset("health_by_tag").num_items == 13


def test_maintain_of_an_indexed_lake_with_replaced_rows_keeps_the_lock(project, tmp_path, monkeypatch):
    """A lake with indexes and re-uploaded files (rows replaced: deleted rows) compacted by
    maintain: pylance 14 cannot read that compaction's record, maintain's own note says what it
    was, so the refresh after it still reuses the lock without running the recipe."""
    from pinlake.library import Library
    from pinlake.library.maintain import maintain_library
    from pinlake.recipes import lockfile
    from pinlake.storage import read_transaction

    library, registry, assets = project()
    maintain_library(library, fragments=1)  # the lake gets its indexes
    lake = Library(library).get_datalake()
    names = sorted(lake.select("object_name LIKE 'health/%'", columns=["object_name"])["object_name"].to_pylist())[:3]
    image = next((assets / "train").glob("*.jpg")).read_bytes()
    changed = [tmp_path / f"changed{i}.jpg" for i in range(3)]  # a fifth of the fragment's rows replaced: the compaction rewrites it
    for i, path in enumerate(changed):
        path.write_bytes(image + b"changed%d" % i)
    lake.upload_data([str(p) for p in changed], tags=["mri"], object_names=names, metadata={"image_type": "mri"})
    first = engine.refresh_dataset(library, registry, "health_by_tag")
    locked = Library(library).get_datalake().version
    maintain_library(library, fragments=1)
    store = Library(library).get_datalake().store
    data = store.open("data")
    unread = [v for v in range(locked + 1, data.version + 1) if read_transaction(data, v) is None]
    assert unread and set(unread) <= store.compactions("data")  # the compaction Lance cannot read, noted

    runs: list[object] = []
    real = lockfile.lock_recipe
    monkeypatch.setattr(lockfile, "lock_recipe", lambda *a, **k: runs.append(a) or real(*a, **k))
    again = engine.refresh_dataset(library, registry, "health_by_tag")
    assert again["unchanged"] and again["lock_hash"] == first["lock_hash"] and runs == []
    # the index lookup after the compaction finds the file's one latest row
    for name in names:
        assert Library(library).get_datalake().select(f"object_name = '{name}'", columns=["object_name"]).num_rows == 1
