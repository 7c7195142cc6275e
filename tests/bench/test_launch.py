"""bench/launch.py reports the peak RSS of the command it starts, not of whoever started it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_small_command_started_from_a_big_process_reports_its_own_peak(tmp_path: Path) -> None:
    ballast = bytearray(400 * 1024 * 1024)  # this process: over 400 MB resident
    ballast[::4096] = b"x" * len(ballast[::4096])
    direct = subprocess.Popen(["true"])
    _, _, usage = os.wait4(direct.pid, 0)
    assert usage.ru_maxrss > 300 * 1024  # started directly, `true` reports this process's high-water mark

    out = tmp_path / "rss"
    launched = subprocess.run([sys.executable, "-I", "-S", str(REPO / "bench" / "launch.py"), str(out), "true"], check=False)
    assert launched.returncode == 0
    assert int(out.read_text()) < 50 * 1024  # through the launcher: its own (and the launcher's) few MB
    failing = subprocess.run([sys.executable, "-I", "-S", str(REPO / "bench" / "launch.py"), str(out), "false"], check=False)
    assert failing.returncode == 1
    del ballast
