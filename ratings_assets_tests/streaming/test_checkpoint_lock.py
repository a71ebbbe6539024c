import multiprocessing
import time

import pytest

from ratings_assets.streaming.checkpoint_lock import CheckpointBusy, checkpoint_lock


def _hold(checkpoint: str, ready, seconds: float) -> None:
    with checkpoint_lock(checkpoint):
        ready.set()
        time.sleep(seconds)


def test_a_second_process_cannot_take_a_held_checkpoint(tmp_path):
    checkpoint = str(tmp_path / "cp")
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(checkpoint, ready, 3.0))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(CheckpointBusy, match=f"pid {holder.pid}"):
            with checkpoint_lock(checkpoint, wait_s=0.5):
                pass
    finally:
        holder.join()
    with checkpoint_lock(checkpoint, wait_s=0.5):
        pass


def test_the_lock_is_released_when_its_holder_dies(tmp_path):
    checkpoint = str(tmp_path / "cp")
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(checkpoint, ready, 60.0))
    holder.start()
    assert ready.wait(10)
    holder.kill()
    holder.join()
    with checkpoint_lock(checkpoint, wait_s=2):
        pass
