"""The temporary Prefect server a command starts for its flow runs when none is configured
(:class:`pinlake.integrations.prefect.TemporaryServer`, used by `pinlake demo`): it runs the
background services Prefect's own temporary server runs and no more, it never prompts nor touches
the user's Prefect profiles, and a port taken before it binds is not an error. Each case runs in a
subprocess of its own: the server class sets process-wide environment variables."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def python(code: str, home: Path, drop: tuple[str, ...] = (), cwd: Path | None = None, **extra: str) -> dict:
    """Run ``code`` (it prints one JSON line last) in ``cwd`` (default: the folder that holds ``home``,
    so no settings file of the checkout counts) with ``home`` as PREFECT_HOME and no server
    configured, without the variables ``drop`` names."""
    dropped = ("PREFECT_API_URL", "PREFECT_PROFILES_PATH", "PREFECT_PROFILE", *drop)
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(PREFECT_HOME=str(home), **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))  # flows/, from any cwd
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, cwd=cwd or home.parent, timeout=180
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_it_runs_the_services_of_prefects_own_temporary_server(tmp_path):
    """With :data:`flows.runtime.NOT_EPHEMERAL_SERVICES` set, the services `prefect server start`
    runs are those Prefect runs in its own temporary server: fails when a Prefect release adds one."""
    from flows.runtime import NOT_EPHEMERAL_SERVICES

    code = """
        import json
        import prefect.server.api.server  # registers every service
        from prefect.server.services.base import RunInEphemeralServers, Service
        from prefect.server.services.perpetual_services import get_enabled_perpetual_services as perpetual

        def names(services):
            return sorted(getattr(s, "function", s).__name__ for s in services)

        print(json.dumps({
            "started": names(Service.enabled_services()) + names(perpetual(False, False)),
            "ephemeral": names(RunInEphemeralServers.enabled_services()) + names(perpetual(True, False)),
        }))
    """
    seen = python(code, tmp_path / "home", **NOT_EPHEMERAL_SERVICES)
    assert seen["started"] == seen["ephemeral"] and seen["started"], seen


def test_it_never_prompts_nor_switches_the_users_profile(tmp_path, prefect_home_seed):
    """PREFECT_CLI_PROMPT=true and a profile whose PREFECT_API_URL is the temporary server's address:
    `prefect server start` would make that profile the active one (or ask, with two such profiles).
    The temporary server comes up and the profiles file is left as it was."""
    home = tmp_path / "home"
    prefect_home_seed(home)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    profiles = f'active = "default"\n\n[profiles.default]\n\n[profiles.other]\nPREFECT_API_URL = "http://127.0.0.1:{port}/api"\n'
    (home / "profiles.toml").write_text(profiles)
    code = f"""
        import json, urllib.request
        from pinlake.integrations.prefect import TemporaryServer

        server = TemporaryServer(port={port})
        try:
            server.start()
            server.wait()
            with urllib.request.urlopen(server.url + "/health", timeout=10) as reply:
                health = reply.status
        finally:
            server.stop()
        print(json.dumps({{"url": server.url, "health": health}}))
    """
    seen = python(code, home, PREFECT_CLI_PROMPT="true")
    assert seen == {"url": f"http://127.0.0.1:{port}/api", "health": 200}
    assert (home / "profiles.toml").read_text() == profiles


def test_a_port_taken_before_it_binds_is_not_an_error(tmp_path, prefect_home_seed):
    """Another process listens on the port the server was to use: it starts on another port, and
    this process's flow runs are pointed there, with Prefect loaded before (as the demo loads its
    flows while the server starts); stop() ends it."""
    home = tmp_path / "home"
    prefect_home_seed(home)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = f"""
            import json, os
            from pinlake.integrations.prefect import TemporaryServer

            server = TemporaryServer(port={port})
            try:
                server.start()
                from prefect.settings import get_current_settings  # Prefect reads PREFECT_API_URL now

                server.wait()
                seen = {{"url": server.url, "env": os.environ["PREFECT_API_URL"], "prefect": get_current_settings().api.url}}
            finally:
                server.stop()
            print(json.dumps({{**seen, "exit": server.proc.returncode, "env_after": os.environ.get("PREFECT_API_URL")}}))
        """
        seen = python(code, home)
    assert seen["url"] != f"http://127.0.0.1:{port}/api" and seen["env"] == seen["prefect"] == seen["url"], seen
    assert seen["exit"] is not None and seen["env_after"] is None, seen


@pytest.mark.parametrize("value", ["abc", "1.5", "1e2", "0", "-3"])
def test_a_bad_startup_timeout_stops_the_demo_before_it_starts(value, tmp_path):
    """PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS that Prefect would refuse when it loads, or
    that leaves no time: one line naming it, before any image is made or any server started."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PINLAKE_LIBRARY")}
    env.update(PREFECT_HOME=str(tmp_path / "home"), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=value)
    proc = subprocess.run([sys.executable, "-m", "pinlake", "demo"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    assert lines == [
        f"Error: PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS={value!r} is not a whole number of seconds above 0",
        "Set it to e.g. 120, or unset it.",
    ], lines
    assert not (tmp_path / "assets").exists() and not (tmp_path / "library").exists()
    assert not (tmp_path / "home" / "temporary-server.log").exists()


@pytest.mark.parametrize("command", ["refresh", "ingest", "up"])
def test_a_setting_prefect_refuses_is_one_line_naming_it(command, tmp_path):
    """A PREFECT_* variable Prefect refuses when it loads (it checks them all, whichever the command
    uses): one Error line naming the variable and its value, and a hint; nothing else on stderr (no
    report from Prefect's own loading either)."""
    registry = tmp_path / "datasets.yaml"
    registry.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "PINLAKE_LIBRARY"}
    env.update(PREFECT_API_URL="http://127.0.0.1:9/api", PREFECT_CLIENT_MAX_RETRIES="lots", PREFECT_HOME=str(tmp_path / "home"))
    args = {
        "refresh": ["refresh", "--all", "--server", "--registry", str(registry)],
        "ingest": ["ingest", str(registry), "--server"],
        "up": ["up", "--port", "9", "--registry", str(registry)],  # before it starts a server
    }[command]
    argv = [sys.executable, "-m", "pinlake", *args, "--library", "lib"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    assert lines == [
        "Error: Prefect refuses PREFECT_CLIENT_MAX_RETRIES='lots': Input should be a valid integer, unable to parse string as an integer",
        "Fix or unset PREFECT_CLIENT_MAX_RETRIES; Prefect checks every PREFECT_* setting when it loads.",
    ], proc.stderr[-3000:]
    assert not (tmp_path / "home" / "server.log").exists()


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        (".env", "PREFECT_CLIENT_MAX_RETRIES=lots\n", ".env"),
        ("prefect.toml", '[client]\nmax_retries = "lots"\n', "prefect.toml"),
        ("home/profiles.toml", 'active = "mine"\n[profiles.mine]\nPREFECT_CLIENT_MAX_RETRIES = "lots"\n', "the active Prefect profile"),
    ],
)
def test_a_setting_prefect_refuses_in_a_file_is_one_line_naming_the_file(tmp_path, name, text, where):
    """The same refused setting held by a settings file Prefect reads: the line names the setting, its
    value and the file to fix."""
    registry = tmp_path / "datasets.yaml"
    registry.write_text("")
    (tmp_path / name).parent.mkdir(exist_ok=True)
    (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k not in ("PINLAKE_LIBRARY", "PREFECT_PROFILES_PATH", "PREFECT_PROFILE")}
    env.update(PREFECT_API_URL="http://127.0.0.1:9/api", PREFECT_HOME=str(tmp_path / "home"))
    argv = [sys.executable, "-m", "pinlake", "refresh", "--all", "--server", "--registry", str(registry), "--library", "lib"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    assert lines == [
        f"Error: Prefect refuses PREFECT_CLIENT_MAX_RETRIES='lots' from {where}: Input should be a valid integer, unable to parse string as an integer",
        f"Fix or remove it in {where}; Prefect checks every setting when it loads.",
    ], proc.stderr[-3000:]


def settings_after_load(home: Path, cwd: Path | None = None) -> dict:
    """Prefect's logging level and temporary-server wait in a process that loads it as the CLI does
    (:func:`load_prefect`, then the flows), with ``home`` as PREFECT_HOME and none of pinlake's quiet
    defaults in its environment, as in a user's shell (this process has them: the flows set them)."""
    from flows.runtime import QUIET

    code = """
        import json
        from pinlake.integrations.prefect import load_prefect

        load_prefect()
        import flows.refresh  # what `pinlake refresh --all --server` imports next
        from prefect.settings import get_current_settings

        from pinlake.integrations.prefect import startup_timeout

        s = get_current_settings()
        print(json.dumps({
            "level": s.logging.level,
            "server level": s.server.logging_level,
            "timeout": s.server.ephemeral.startup_timeout_seconds,
            "demo waits": startup_timeout(),  # the demo's temporary server, as long as Prefect would
        }))
    """
    return python(code, home, drop=tuple(QUIET), cwd=cwd)


def test_prefect_loads_with_pinlakes_quiet_settings(tmp_path):
    """A command that loads Prefect through :func:`load_prefect` (refresh --all and ingest on a
    server, serve-flows, up) gets pinlake's quiet defaults, which a user's shell does not hold."""
    assert settings_after_load(tmp_path / "home") == {"level": "WARNING", "server level": "CRITICAL", "timeout": 120, "demo waits": 120}


def test_the_quiet_settings_give_way_to_the_users_prefect_profile(tmp_path):
    """Settings the user's active Prefect profile holds (``prefect config set …``) win over pinlake's
    quiet defaults: those are environment variables, which Prefect ranks above the profile."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "profiles.toml").write_text(
        'active = "mine"\n\n[profiles.mine]\nPREFECT_LOGGING_LEVEL = "DEBUG"\nPREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS = "300"\n'
        'PREFECT_LOGGING_SERVER_LEVEL = "DEBUG"\n'  # an older name of PREFECT_SERVER_LOGGING_LEVEL
    )
    assert settings_after_load(home) == {"level": "DEBUG", "server level": "DEBUG", "timeout": 300, "demo waits": 300}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (".env", "PREFECT_LOGGING_LEVEL=DEBUG\nPREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=300\n"),
        ("prefect.toml", '[logging]\nlevel = "DEBUG"\n\n[server.ephemeral]\nstartup_timeout_seconds = 300\n'),
        ("pyproject.toml", '[tool.prefect.logging]\nlevel = "DEBUG"\n\n[tool.prefect.server.ephemeral]\nstartup_timeout_seconds = 300\n'),
    ],
)
def test_the_quiet_settings_give_way_to_the_users_settings_files(tmp_path, name, text):
    """Prefect reads .env, prefect.toml and pyproject.toml's [tool.prefect] in the working directory,
    below environment variables: values set there win over pinlake's quiet defaults too."""
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / name).write_text(text)
    assert settings_after_load(home, cwd=tmp_path) == {"level": "DEBUG", "server level": "CRITICAL", "timeout": 300, "demo waits": 300}


def test_the_quiet_settings_other_names_are_prefects():
    """:data:`flows.runtime.QUIET_ALIASES` lists every other name Prefect reads a quiet setting by
    (its fields' validation aliases): fails when a Prefect release adds or drops one."""
    from prefect.settings.models.root import Settings
    from pydantic import AliasChoices, BaseModel

    from flows.runtime import QUIET, QUIET_ALIASES

    def fields(model: type[BaseModel], path: tuple[str, ...] = ()):
        for name, field in model.model_fields.items():
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                yield from fields(field.annotation, (*path, name))
            else:
                alias = field.validation_alias
                choices = [c.upper() for c in alias.choices if isinstance(c, str)] if isinstance(alias, AliasChoices) else []
                yield "PREFECT_" + "_".join((*path, name)).upper(), choices

    known = dict(fields(Settings))
    assert {k for k in QUIET if k.startswith("PREFECT_")} <= set(known)
    prefect = {key: tuple(sorted(set(known[key]) - {key})) for key in QUIET if known.get(key)}
    assert {k: v for k, v in prefect.items() if v} == QUIET_ALIASES
