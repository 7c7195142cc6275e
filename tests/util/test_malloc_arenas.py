"""The CLI limits glibc's malloc arenas to its CPUs (``pinlake.util.malloc_arenas``): threads that
scan Lance tables then share a few arenas instead of filling sixteen, a library import changes
nothing, and ``MALLOC_ARENA_MAX`` in the environment wins. Each case runs in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from pinlake.util.malloc_arenas import glibc

pytestmark = pytest.mark.skipif(not glibc(), reason="malloc arenas are glibc's")

#: the number of malloc heaps (arenas) after eight threads scanned a Lance table of 20 fragments
#: (glibc's malloc_info), in a process on two CPUs, with the limit set first when argv[1] is "limit"
HEAPS = textwrap.dedent(
    """
    import ctypes, os, re, sys, tempfile
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])  # two CPUs, whatever the machine
    if sys.argv[1] == "limit":
        from pinlake.util.malloc_arenas import limit_arenas
        limit_arenas()
    from concurrent.futures import ThreadPoolExecutor
    import lance, numpy as np, pyarrow as pa, pyarrow.compute as pc
    d = tempfile.mkdtemp()
    x = pa.array(np.arange(400_000))
    lance.write_dataset(pa.table({"x": x, "s": pc.cast(x, pa.string())}), d + "/t", max_rows_per_file=20_000)
    ds = lance.dataset(d + "/t")
    def scan(_):
        return sum(b.num_rows for b in ds.to_batches(batch_size=1024))
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(scan, range(16)))
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    fp = libc.fopen((d + "/info.xml").encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(fp))
    libc.fclose(ctypes.c_void_p(fp))
    print(len(re.findall(r"<heap nr=", open(d + "/info.xml").read())))
    """
)


def python(code: str, *args: str, **env: str) -> str:
    full = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env={**full, **env}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def cpus() -> int:
    return max(2, len(os.sched_getaffinity(0)))


def test_threads_share_the_arenas_the_limit_allows():
    limited, free = int(python(HEAPS, "limit")), int(python(HEAPS, "none"))
    assert limited <= 2
    assert free > 2  # the same scans without the limit spread over more arenas


def test_the_cli_sets_the_limit_and_a_library_import_does_not():
    code = "import pinlake; from pinlake.util import malloc_arenas as m; first = m.LIMIT; import pinlake.cli; print(first, m.LIMIT)"
    assert python(code) == f"None {cpus()}"


def test_malloc_arena_max_in_the_environment_wins():
    code = "import pinlake.cli; from pinlake.util import malloc_arenas as m; print(m.LIMIT)"
    assert python(code, MALLOC_ARENA_MAX="16") == "None"
    heaps = int(python(HEAPS.replace('sys.argv[1] == "limit"', "True"), "limit", MALLOC_ARENA_MAX="16"))
    assert heaps > 2  # glibc took the user's 16, not this module's limit


def test_a_glibc_tunable_for_arenas_wins_too():
    code = "import pinlake.cli; from pinlake.util import malloc_arenas as m; print(m.LIMIT)"
    assert python(code, GLIBC_TUNABLES="glibc.malloc.arena_max=3") == "None"
    assert python(code, GLIBC_TUNABLES="glibc.malloc.check=0") == str(cpus())  # another tunable: the limit is set


def test_a_c_library_that_cannot_be_loaded_stops_no_command():
    code = (
        "import ctypes\n"
        "def refuse(*a, **k):\n    raise OSError('no C library here')\n"
        "ctypes.CDLL = refuse\n"
        "import pinlake.cli\n"
        "from pinlake.util import malloc_arenas as m\n"
        "print(m.LIMIT)"
    )
    assert python(code) == "None"
