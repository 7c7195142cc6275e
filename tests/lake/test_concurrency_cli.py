import json
import subprocess
import sys
import textwrap

from typer.testing import CliRunner

from pinlake.lake import Lake

UPLOADER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pinlake.lake import Lake
    lake = Lake(sys.argv[1])
    files = sorted(Path(sys.argv[2]).glob("*.bin"))
    order = files if sys.argv[3] == "fwd" else files[::-1]
    # several calls so the two processes interleave
    for i in range(0, len(order), 10):
        lake.upload_data(order[i:i + 10], tags=["t" + sys.argv[3]])
    """
)


def test_two_processes_upload_overlapping_files(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(60):
        (src / f"f{i:03d}.bin").write_bytes(f"content {i}".encode() * 50)
    root = tmp_path / "lake"
    script = tmp_path / "up.py"
    script.write_text(UPLOADER)
    procs = [subprocess.Popen([sys.executable, str(script), str(root), str(src), d]) for d in ("fwd", "rev")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    lake = Lake(root)
    rows = lake.to_arrow(all_versions=True)
    names = rows["object_name"].to_pylist()
    assert len(names) == len(set(names)) == 60  # nothing lost, nothing duplicated, no spurious versions
    assert set(rows["version"].to_pylist()) == {1}
    shas = lake.store.open("objects").to_table(columns=["sha256"])["sha256"].to_pylist()
    assert len(shas) == len(set(shas)) == 60
    assert lake.find_data(object_name="f042.bin").get_bytes() == (src / "f042.bin").read_bytes()


def test_cli_lake(tmp_path, files):
    import pinlake.cli.lake  # noqa: F401 - registers `pinlake lake`
    from pinlake.cli.app import app

    runner = CliRunner()
    lib = str(tmp_path / "lib")
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"site": "basel"}))
    r = runner.invoke(
        app,
        [
            "lake",
            "upload",
            str(files),
            "--tag",
            "car",
            "--source",
            "cam",
            "--metadata-file",
            str(meta),
            "--object-prefix",
            "trial/basel",
            "-L",
            lib,
        ],
    )
    assert r.exit_code == 0, r.output
    assert "uploaded 6 file(s)" in r.output
    r = runner.invoke(app, ["lake", "ls", "--q", "width > 100", "--json", "-L", lib])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [x["object_name"] for x in rows] == ["trial/basel/big.jpg"] and rows[0]["metadata"] == {"site": "basel"}
    r = runner.invoke(app, ["lake", "find", "trial/basel/arr.npy", "-L", lib])
    assert r.exit_code == 0 and json.loads(r.stdout)["version"] == 1
    r = runner.invoke(app, ["lake", "tag", "huge", "--q", "width > 100", "-L", lib])
    assert r.exit_code == 0 and "tagged 1" in r.output
    r = runner.invoke(app, ["lake", "tags", "-L", lib])
    assert r.output.split() == ["car", "huge"]
    r = runner.invoke(app, ["lake", "sources", "-L", lib])
    assert r.output.split() == ["cam"]
    r = runner.invoke(app, ["lake", "process", "auto-tag", "--params", '{"tag": "tiny", "where": "width < 50"}', "-L", lib])
    assert r.exit_code == 0 and "updated 2" in r.output, r.output
    r = runner.invoke(app, ["lake", "import", str(files), "-L", lib])
    assert r.exit_code == 0 and "imported 6" in r.output
    r = runner.invoke(app, ["lake", "ls", "--q", "1=1; DROP TABLE x", "-L", lib])
    assert r.exit_code == 1 and "not allowed" in r.output
    r = runner.invoke(app, ["lake", "find", "nope", "-L", lib])
    assert r.exit_code == 1 and "pinlake lake ls" in r.output
    r = runner.invoke(app, ["lake", "upload", "--help"])
    assert "Example: pinlake lake upload" in r.output
