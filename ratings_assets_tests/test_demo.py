"""`make run`'s clean stop: nothing of a child's session may outlive it, even a process that keeps forking."""

import os
import signal
import subprocess
import threading
import time

from ratings_assets.demo import end_session, session_members

# Ignores SIGTERM and starts a new process every 50 ms, as a run worker starting Spark does while it is killed.
FORKER = 'trap "" TERM; while :; do sleep 60 & sleep 0.05; done'


def _session_leader(script: str) -> subprocess.Popen:
    """A shell in a session of its own, reaped as soon as it ends, as `make run` reaps its children."""
    proc = subprocess.Popen(["bash", "-c", script], start_new_session=True)
    threading.Thread(target=proc.wait, daemon=True).start()
    return proc


def _forker() -> subprocess.Popen:
    proc = _session_leader(FORKER)
    deadline = time.monotonic() + 10
    while len(session_members(proc.pid)) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    return proc


def test_end_session_kills_a_session_that_forks_while_it_is_killed():
    proc = _forker()
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # ignored by the loop; its `sleep`s die, the loop starts more
        killed = end_session(proc.pid, grace_s=0.5)
        proc.wait(timeout=5)
        assert killed >= 1
        left = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert not left, left
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_end_session_waits_for_a_session_that_ends_by_itself():
    proc = _session_leader("sleep 0.5")
    assert end_session(proc.pid, grace_s=10) == 0
    assert proc.wait(timeout=5) == 0
