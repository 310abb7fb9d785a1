"""Progress never goes quiet: a long stage is announced again with its elapsed time."""

import time

from trtbuild.timing import Timings


def test_a_quiet_stage_is_announced_again_and_a_failed_stage_is_remembered():
    messages = []
    timings = Timings(messages.append, heartbeat=0.05)
    with timings.stage("export"):
        deadline = time.monotonic() + 10
        while not any("still running" in m for m in messages) and time.monotonic() < deadline:
            time.sleep(0.01)
        timings.progress("export: node 3/9")  # news resets the clock
    assert messages[0] == "export" and "export (still running, " in messages[1]
    count = len(messages)
    time.sleep(0.2)
    assert len(messages) == count and timings.current is None  # quiet once the stage is over
    try:
        with timings.stage("build", "trt_0 (4 ops)"):
            raise ValueError
    except ValueError:
        pass
    assert timings.current == "build" and messages[-1] == "build: trt_0 (4 ops)"
