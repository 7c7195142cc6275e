"""pinlake reads the user's Prefect settings below the environment as Prefect does, without loading it:
each case is also read back from Prefect's own settings in a fresh process, in the same folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pinlake.util.prefect_profile import prefect_home, profiles_path, user_settings_where

PROFILE = 'active = "mine"\n[profiles.mine]\nPREFECT_API_URL = "http://127.0.0.1:4/api"\nPREFECT_LOGGING_LEVEL = "ERROR"\n'


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    """An empty working folder, a Prefect home with one profile, no PREFECT_* in the environment."""
    for key in [k for k in os.environ if k.startswith("PREFECT_")]:
        monkeypatch.delenv(key)
    home = tmp_path / "home"
    home.mkdir()
    (home / "profiles.toml").write_text(PROFILE)
    monkeypatch.setenv("PREFECT_HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def prefects_view(work: Path) -> dict:
    """The API URL and logging level Prefect itself reads in ``work``, with this environment."""
    code = "import json; from prefect.settings import get_current_settings as g; s = g(); print(json.dumps([s.api.url, s.logging.level]))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=work, timeout=120, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-2000:]
    url, level = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"PREFECT_API_URL": url, "PREFECT_LOGGING_LEVEL": level}


def ours(work: Path) -> dict:
    found = user_settings_where(work)
    return {k: found[k][0] for k in ("PREFECT_API_URL", "PREFECT_LOGGING_LEVEL") if k in found}


def test_each_file_outranks_the_ones_below_it_as_in_prefect(here):
    expected = {"PREFECT_API_URL": "http://127.0.0.1:4/api", "PREFECT_LOGGING_LEVEL": "ERROR"}
    assert ours(here) == expected == prefects_view(here)
    files = [
        ("pyproject.toml", '[tool.prefect.api]\nurl = "http://127.0.0.1:3/api"\n', "http://127.0.0.1:3/api"),
        ("prefect.toml", '[api]\nurl = "http://127.0.0.1:2/api"\n', "http://127.0.0.1:2/api"),
        (".env", "prefect_api_url=http://127.0.0.1:1/api\n", "http://127.0.0.1:1/api"),  # any case in .env
    ]
    for name, text, url in files:  # each one added outranks those before it
        (here / name).write_text(text)
        expected["PREFECT_API_URL"] = url
        assert ours(here) == expected == prefects_view(here), name
    assert user_settings_where(here)["PREFECT_API_URL"] == ("http://127.0.0.1:1/api", ".env")
    assert user_settings_where(here)["PREFECT_LOGGING_LEVEL"] == ("ERROR", "the active Prefect profile")


def test_toml_keys_with_capitals_are_not_settings(here):
    """Prefect matches TOML keys to its lower-case field names exactly."""
    (here / "prefect.toml").write_text('[logging]\nLEVEL = "DEBUG"\n')
    assert ours(here)["PREFECT_LOGGING_LEVEL"] == "ERROR" == prefects_view(here)["PREFECT_LOGGING_LEVEL"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (".env", "PREFECT_PROFILES_PATH={path}\n"),
        ("prefect.toml", 'profiles_path = "{path}"\n'),
        ("pyproject.toml", '[tool.prefect]\nprofiles_path = "{path}"\n'),
    ],
)
def test_a_file_can_name_the_profiles(here, name, text):
    other = here.parent / "other-profiles.toml"
    other.write_text(PROFILE.replace("127.0.0.1:4", "127.0.0.1:5"))
    (here / name).write_text(text.format(path=other))
    assert profiles_path(here) == other
    assert ours(here)["PREFECT_API_URL"] == "http://127.0.0.1:5/api" == prefects_view(here)["PREFECT_API_URL"]


def test_the_profiles_path_in_dotenv_is_read_as_written(here):
    """Prefect looks for PREFECT_PROFILES_PATH in .env by that exact name (its other settings in any case)."""
    other = here.parent / "other-profiles.toml"
    other.write_text(PROFILE.replace("127.0.0.1:4", "127.0.0.1:5"))
    (here / ".env").write_text(f"prefect_profiles_path={other}\n")
    assert ours(here)["PREFECT_API_URL"] == "http://127.0.0.1:4/api" == prefects_view(here)["PREFECT_API_URL"]


def test_a_home_set_in_a_file_is_prefects_home(here, monkeypatch):
    monkeypatch.delenv("PREFECT_HOME")
    elsewhere = here.parent / "elsewhere"
    (here / "prefect.toml").write_text(f'home = "{elsewhere}"\n')
    assert prefect_home() == elsewhere
    code = "from prefect.settings import get_current_settings as g; print(g().home)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=here, timeout=120, env=dict(os.environ))
    assert Path(proc.stdout.strip().splitlines()[-1]) == elsewhere, proc.stderr[-2000:]
    monkeypatch.setenv("PREFECT_HOME", str(here))  # the environment outranks the file
    assert prefect_home() == here
