"""SIGKILL at commit points of every write path (a bounded sample; `python -m bench faults` runs all).

Each case kills a real process right after one of its commit points (PINLAKE_FAULT_KILL_AT), then
checks that the last logged version of every dataset reads completely with its own files, that ls,
sql, the API and a pin made before the run still work, and that running the command again converges
to the content of an uninterrupted run (rows without timestamps, the lake's rows, the catalog).
"""

from __future__ import annotations

import pytest

from bench.faults import SCENARIOS, baseline, kill_once

pytestmark = pytest.mark.e2e


#: builds whose commit is a folder build's (sampled above): the version log only
SAME_PATH = ("coco import",)
#: imports whose commit is the COCO import's (the builder's; bench faults kills each of them at every point)
BENCH_ONLY = ("yolo import", "voc import")
#: the write–audit–publish paths: their build is the refresh's, sampled above; these kill around the verdict
GATED = {"gated refresh": "publish decision", "quarantine": "publish checks"}
#: a refresh whose lock first records the lake's identity: its build is the refresh's, sampled above
IDENTITY = {"refresh of an unidentified lake": "lake identity"}


def _sample(points: list[str], scenario: str = "") -> list[int]:
    """The first point, the version-log commit, the point after it, the first lake and dataset table
    index commits, the first note of a lake compaction, and the last (1-based, deduplicated);
    for a gated refresh one point of its verdict, for a lake's first identity its write and the
    commit after it, for an import its version log (their builds are
    sampled above; the full matrix, `python -m bench faults`, kills every point)."""
    if scenario in SAME_PATH:  # its build commits as a folder build's: the version log
        return [points.index("version log") + 1]
    if scenario in GATED:  # after the publish's commit (the tags to re-sync), before a quarantine's
        return [points.index(GATED[scenario]) + 1]
    if scenario in IDENTITY:  # right after the identity's write, and at the commit that follows it
        at = points.index(IDENTITY[scenario]) + 1
        return [at, min(at + 1, len(points))]
    picks = {1, len(points)}
    for i, name in enumerate(points, start=1):
        if name == "version log":
            picks.update({i, min(i + 1, len(points))})
    lake_indexed = [i for i, name in enumerate(points, start=1) if name.startswith("lake ") and name.endswith(" indexed")]
    picks.update(lake_indexed[:1])  # a lake index commit (maintain's, whatever the lake's size)
    noted = [i for i, name in enumerate(points, start=1) if name == "lake compaction recorded"]
    picks.update(noted[:1])  # maintain's note of its lake compactions (a kill before it: the recipe runs again)
    table_indexed = [i for i, name in enumerate(points, start=1) if name.startswith("table ") and name.endswith(" indexed")]
    picks.update(table_indexed[:1])  # a dataset table's index commit before its version's (rolled back, indexed again)
    return sorted(picks)


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n not in BENCH_ONLY])
def test_kill_at_commit_points_then_rerun_converges(name, tmp_path):
    scenario = SCENARIOS[name]
    base = baseline(scenario, tmp_path / "s")
    assert base.points, f"{name}: the clean run passed no commit point"
    if name not in ("lake upload", "lake re-ingest", "stats and preview"):  # these commit no dataset version
        assert "version log" in base.points
    if name in GATED:
        assert "publish decision" in base.points
    if name == "incremental refresh":  # the lock's install is among the commit points, its lock a delta
        assert "lock manifest" in base.points
        assert base.delta_locks == 1, "the refresh locked whole: the delta lock was not exercised"
    if name in IDENTITY:
        assert IDENTITY[name] in base.points, "the lock recorded no identity: the scenario's lake had one"
    if name == "maintain":  # the lake's indexes are made before its compaction and updated after it, noted
        assert "lake data indexed" in base.points and "lake compaction recorded" in base.points
    for k in _sample(base.points, name):
        outcome = kill_once(scenario, base, tmp_path / "s", at=k)
        assert outcome.killed, f"{name} {outcome.point}: the process was not killed"
        assert outcome.ok, (name, outcome)
