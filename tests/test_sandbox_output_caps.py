"""Output caps are enforced by the host, whatever a program does to the guest harness.

The harness counts stdout and the value's repr itself, but its module globals are reachable from the
program (``import azr_guest``), so a program can switch that count off. The host counts the bytes of
each report as it crosses the boundary, before copying anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from azr import Job, Sandbox, Status

CAP = 65536

# Each defeats the harness's own check (shown against the harness-only cap: they reported 40 MB as OK).
DEFEAT_LEN = "import azr_guest\nazr_guest._len = lambda x: 0\ndef f():\n    return 'x' * 40_000_000"
DEFEAT_PRINT = "import azr_guest\nazr_guest._len = lambda x: 0\ndef f():\n    print('y' * 10_000_000)\n    return 1"
DEFEAT_OUTCOME = (
    "import azr_guest\n"
    "from wit_world import Outcome, Status\n"
    "azr_guest._outcome = lambda status, stdout, value=None, etype=None, emsg=None, code=0: "
    "Outcome(Status.OK, 'v' * 30_000_000, 'o' * 30_000_000, None, None, 0)\n"
    "def f():\n    return 1"
)
DEFEAT_ERROR_TEXT = (
    "import azr_guest\nazr_guest._text = lambda obj: 'e' * 10_000_000\n"
    "azr_guest._type_name = lambda exc: 'T' * 10_000_000\n"
    "def f():\n    raise ValueError('x')"
)


def test_harness_defeats_are_output_limit(sandbox: Sandbox) -> None:
    for program in (DEFEAT_LEN, DEFEAT_PRINT, DEFEAT_OUTCOME):
        r = sandbox.run(Job(program, "f()"))
        assert r.status is Status.OUTPUT_LIMIT, (program, r.status)
        assert r.value_repr is None
        assert len(r.stdout.encode()) <= CAP
    printed = sandbox.run(Job(DEFEAT_PRINT, "f()"))
    assert printed.stdout == "y" * CAP  # truncated to the cap, not dropped


def test_stdout_within_cap_but_value_over_it(sandbox: Sandbox) -> None:
    program = (
        "import azr_guest\nazr_guest._len = lambda x: 0\ndef f():\n    print('a' * 60_000)\n    return 'b' * 10_000"
    )
    r = sandbox.run(Job(program, "f()"))
    assert r.status is Status.OUTPUT_LIMIT
    assert r.stdout == "a" * 60_000 + "\n"


def test_error_text_is_capped_on_the_host(sandbox: Sandbox) -> None:
    r = sandbox.run(Job(DEFEAT_ERROR_TEXT, "f()"))
    assert r.status is Status.EXCEPTION
    assert r.error_type == "T" * 2000
    assert r.error_message == "e" * 2000


_RSS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from azr import Job, Sandbox

    def status(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise KeyError(field)

    workers, memory_mb, jobs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    program = sys.argv[4]
    sb = Sandbox(workers=workers, memory_mb=memory_mb, timeout_s=30)
    sb.run_batch([Job("", "1")] * workers)  # every worker has a live instance: the baseline
    before = status("VmHWM")
    results = sb.run_batch([Job(program, "f()")] * jobs)
    held = sum(len(r.stdout) + len(r.value_repr or "") for r in results)
    print(json.dumps({"before_hwm": before, "after_hwm": status("VmHWM"), "after_rss": status("VmRSS"),
                      "statuses": sorted({r.status.value for r in results}), "held_chars": held}))
    """
)


def measure_rss(program: str, workers: int, memory_mb: int, jobs: int) -> dict[str, object]:
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(workers), str(memory_mb), str(jobs), program],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_batch_of_huge_reports_keeps_host_memory_bounded() -> None:
    workers, memory_mb, jobs = 2, 256, 64
    m = measure_rss(DEFEAT_LEN, workers, memory_mb, jobs)
    assert m["statuses"] == ["output_limit"], m
    before, after = m["before_hwm"], m["after_hwm"]
    assert isinstance(before, int) and isinstance(after, int)
    # What the caps allow: every worker's guest memory at its cap, plus the results (each at most the
    # output cap, held as Rust and Python strings), plus 64 MiB for allocator slack.
    bound = workers * memory_mb * 2**20 + jobs * CAP * 4 + 64 * 2**20
    growth = after - before
    print(
        f"\nVmHWM growth for {jobs} jobs reporting 40 MB each: {growth / 2**20:.0f} MiB (bound {bound / 2**20:.0f} MiB)"
    )
    # Without host-side caps each job held its 40 MB value twice (Rust + Python): >5 GB for this batch.
    assert growth <= bound, m
