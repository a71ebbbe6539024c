"""One streaming query per checkpoint: an exclusive lock next to the checkpoint folder.

Spark does not stop two processes from running queries on one checkpoint,
and two such queries corrupt it. Whatever starts the query (a Dagster run, a
sensor restart, a run retry, the CLI) must hold this lock first.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class CheckpointBusy(RuntimeError):
    pass


class LockHeld(RuntimeError):
    def __init__(self, holder: str):
        super().__init__(f"held by {holder}")
        self.holder = holder


@contextmanager
def exclusive_lock(lock_path: Path, note: str, wait_s: float) -> Iterator[None]:
    """An exclusive lock on `lock_path`, waiting up to `wait_s`; the holder's `note` is written in the file
    for whoever is refused (LockHeld carries it)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+") as handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    raise LockHeld(handle.read().strip() or "unknown") from None
                time.sleep(1)
        handle.seek(0)
        handle.truncate()
        handle.write(note)
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def checkpoint_lock(checkpoint_dir: str, wait_s: float = 60.0) -> Iterator[None]:
    """Hold the lock of a local checkpoint, waiting up to `wait_s` for a previous query to let go."""
    if "://" in checkpoint_dir and not checkpoint_dir.startswith("file://"):
        # Remote checkpoints (s3a://, hdfs://): Dagster's run queue limit is the guard there.
        yield
        return
    path = Path(checkpoint_dir.removeprefix("file://"))
    try:
        with exclusive_lock(path.with_name(path.name + ".lock"), str(os.getpid()), wait_s):
            yield
    except LockHeld as held:
        raise CheckpointBusy(
            f"another streaming query (pid {held.holder}) holds checkpoint {path}; stop it before starting a new one"
        ) from None
