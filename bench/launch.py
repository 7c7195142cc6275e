"""Run a command and write its own peak RSS: ``python -I -S bench/launch.py OUT_FILE CMD ...``.

``ru_maxrss`` survives exec and a vfork shares the parent's memory until the exec, so a process that
the benchmark runner (hundreds of MB) starts directly reports the runner's high-water mark when its
own is lower (2026-12-01: every tool of repetition 2 at 339 MB). This launcher is small (about
10 MB) and starts the command with a real fork: the command's ``ru_maxrss`` from ``os.wait4`` is
its own (or this launcher's, whichever is higher), written to OUT_FILE in kB; the exit code is the
command's. Standard library only, run with ``-I -S`` so it loads almost nothing.
"""

import os
import sys


def main() -> int:
    out, cmd = sys.argv[1], sys.argv[2:]
    pid = os.fork()
    if pid == 0:  # the child: a copy of this small process, replaced by the command
        try:
            os.execvp(cmd[0], cmd)
        except OSError as exc:
            sys.stderr.write(f"launch: {cmd[0]}: {exc}\n")
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    with open(out, "w") as fh:
        fh.write(f"{usage.ru_maxrss}\n")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
