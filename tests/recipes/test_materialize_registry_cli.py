from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pinlake.cli import app, register_commands
from pinlake.errors import InputFileError, NotFoundError, ValidationError
from pinlake.library.registry import Registry, register
from pinlake.recipes.errors import LockfileError, RecipeError
from pinlake.recipes.lockfile import lock_recipe
from pinlake.recipes.materializers import MaterializeContext, list_materializers, materialize, register_materializer

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
runner = CliRunner()
register_commands()


@pytest.fixture
def basel_lock(library, tmp_path):
    return lock_recipe(RECIPES / "basel_trial.py", library.get_datalake(), out=tmp_path / "lock")


def test_materialize_folder_csv_parquet(library, basel_lock, tmp_path):
    files = [basel_lock.path / "resources.train.jsonl", basel_lock.path / "resources.test.jsonl"]
    out = materialize(files, ["folder", "csv", "parquet"], tmp_path / "out")
    recs = [json.loads(x) for f in files for x in f.read_text().splitlines()]
    for rec in recs:
        split = "test" if "patient-001" in rec["object_name"] else "train"
        target = tmp_path / "out" / split / rec["object_name"]
        assert hashlib.sha256(target.read_bytes()).hexdigest() == rec["sha256"]
    assert len(out["folder"]) == len(recs)
    table = pq.read_table(tmp_path / "out" / "train.parquet")
    assert set(table.column("meta.image_type").to_pylist()) == {"mri"} and table.num_rows == basel_lock.counts["train"]
    assert "trial/basel/" in (tmp_path / "out" / "test.csv").read_text()


def test_materialize_hardlinks_local_objects(tmp_path, demo_images):
    import pinlake

    lib = pinlake.connect(tmp_path / "lib2")
    lake = lib.get_datalake()
    lake.import_bucket_objects([str(demo_images / "test")], tags=["t"])
    rec = tmp_path / "r.py"
    rec.write_text(
        "import pinlake\n@pinlake.recipe()\ndef r(client):\n    return {'all': list(client.list_data(q=\"media_type LIKE 'image/%'\"))}\n"
    )
    lock = lock_recipe(rec, lake, out=tmp_path / "lock")
    materialize([lock.path / "resources.all.jsonl"], ["folder"], tmp_path / "out", lake)
    first = next((tmp_path / "out" / "all").rglob("*.jpg"))
    assert first.stat().st_nlink >= 2


def test_plugin_and_unknown(basel_lock, tmp_path):
    @register_materializer("count")
    def count(ctx: MaterializeContext):
        p = ctx.out / f"{ctx.split}.count"
        ctx.out.mkdir(parents=True, exist_ok=True)
        p.write_text(str(sum(1 for _ in ctx.records())))
        return [p]

    assert "count" in list_materializers()
    materialize([basel_lock.path / "resources.train.jsonl"], ["count"], tmp_path / "o")
    assert (tmp_path / "o" / "train.count").read_text() == str(basel_lock.counts["train"])
    with pytest.raises(ValidationError, match="unknown materializer 'nope'") as exc:
        materialize([basel_lock.path / "resources.train.jsonl"], ["nope"], tmp_path / "o")
    assert "folder" in exc.value.hint
    with pytest.raises(LockfileError, match="does not exist"):
        materialize([tmp_path / "resources.x.jsonl"], ["csv"], tmp_path / "o")


def test_materialize_refuses_hand_edit(basel_lock, tmp_path):
    f = basel_lock.path / "resources.test.jsonl"
    f.write_text(f.read_text().replace('"mri"', '"xray"'))
    with pytest.raises(LockfileError, match=r"resources.test.jsonl:1"):
        materialize([f], ["csv"], tmp_path / "o")


def test_registry_ships_valid_entries():
    reg = Registry(RECIPES / "datasets.yaml")
    assert {e.name for e in reg} >= {"health_by_tag", "basel_trial"}
    for e in reg:
        reg.check(e)


@pytest.mark.parametrize(
    "entry, match",
    [
        ("- name: a\n  script_location: ./r.py\n  schedule: '0 3 * *'\n", r"entry 1 \('a'\): key 'schedule'"),
        ("- name: a\n  script_location: ./r.py\n  retention: forever\n", "key 'retention'"),
        ("- name: a\n  script_location: ./r.py\n  colour: red\n", "key 'colour': unknown key"),
        ("- name: a\n", "key 'script_location'"),
        ("- name: a\n  script_location: ./r.py\n- name: a\n  script_location: ./r.py\n", "duplicate name"),
    ],
)
def test_registry_errors_name_entry_and_key(tmp_path, entry, match):
    (tmp_path / "datasets.yaml").write_text(entry)
    with pytest.raises(InputFileError, match=match):
        Registry(tmp_path / "datasets.yaml")


def test_register_validates_and_appends(tmp_path):
    reg = tmp_path / "datasets.yaml"
    (tmp_path / "r.py").write_text((RECIPES / "basel_trial.py").read_text())
    register(reg, {"name": "b", "script_location": "./r.py", "schedule": "0 3 * * *", "splits": ["train", "test"]})
    assert [e.name for e in Registry(reg)] == ["b"]
    with pytest.raises(ValidationError, match="already exists"):
        register(reg, {"name": "b", "script_location": "./r.py"})
    with pytest.raises(InputFileError, match="key 'script_location'.*does not exist"):
        register(reg, {"name": "c", "script_location": "./missing.py"})
    (tmp_path / "plain.py").write_text("x = 1\n")
    with pytest.raises(RecipeError, match="no function decorated"):
        register(reg, {"name": "c", "script_location": "./plain.py"})
    with pytest.raises(ValidationError, match="key 'dataset_item'"):
        register(reg, {"name": "c", "script_location": "./r.py", "dataset_item": "pinlake.demo.data:Nope"})
    assert len(Registry(reg)) == 1
    with pytest.raises(NotFoundError):
        Registry(tmp_path / "none.yaml")


def test_cli_lock_materialize_build_ls_register(library, tmp_path):
    lib = str(library.path)
    r = runner.invoke(app, ["datasets", "lock", "--file", str(RECIPES / "basel_trial.py"), "-L", lib, "--out", str(tmp_path / "lk")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "materialize",
            "-f",
            str(tmp_path / "lk" / "resources.train.jsonl"),
            "-m",
            "folder",
            "-m",
            "parquet",
            "--out",
            str(tmp_path / "m"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m" / "train.parquet").is_file()
    r = runner.invoke(app, ["build", "--lock", str(tmp_path / "lk"), "--name", "basel", "-L", lib])
    assert r.exit_code == 0 and "Built basel version 1" in r.output, r.output
    r = runner.invoke(app, ["build", "--lock", str(tmp_path / "lk"), "--name", "basel", "-L", lib])
    assert r.exit_code == 0 and "Unchanged" in r.output, r.output
    r = runner.invoke(app, ["datasets", "ls", "--registry", str(RECIPES / "datasets.yaml"), "--json"])
    assert r.exit_code == 0 and "basel_trial" in r.output
    reg = tmp_path / "reg" / "datasets.yaml"
    r = runner.invoke(
        app,
        [
            "datasets",
            "register",
            "--file",
            str(RECIPES / "basel_trial.py"),
            "--name",
            "x",
            "--registry",
            str(reg),
            "--schedule",
            "0 3 * * *",
        ],
    )
    assert r.exit_code == 0, r.output
    assert Registry(reg).get("x").script_path(reg.parent) == (RECIPES / "basel_trial.py").resolve()
    r = runner.invoke(app, ["datasets", "lock", "--file", str(tmp_path / "missing.py"), "-L", lib])
    assert r.exit_code == 1 and "does not exist" in " ".join(r.output.split())
    r = runner.invoke(app, ["materialize", "-f", str(tmp_path / "lk" / "resources.train.jsonl"), "-m", "nope"])
    assert r.exit_code == 1 and "csv, folder, parquet" in " ".join(r.output.split())
