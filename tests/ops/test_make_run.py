"""`make run`, started the way a user starts it (the real Makefile target, in a copy of
the tree, on its own port, database and Redis), holds the README's promises:

1. A variable set in the environment wins over `.env` in every process: with `.env`
   holding one webhook key pair and the environment another, a webhook signed with the
   environment's key is accepted (200) and one signed with `.env`'s is refused (403).
   (honcho loaded `.env` over the environment for each process it started.)
2. A process that dies is started again while the others keep running: kill -9 of the
   dispatcher's main process, and the web keeps answering, a new dispatcher comes up
   and the other processes are the same ones as before. (honcho stopped them all.)
3. Ctrl-C stops every process it started.
"""

import os
import signal
import time
import uuid

import httpx
import pytest

from providers.signing import generate_key_pair
from providers.simulator import events
from providers.simulator.transport import event_body, signed_headers

from .conftest import MakeRun, alive, new_secret, parent, processes_under, wait_until

# Starting means migrating a new database, seeding the demo, collectstatic and six
# processes importing Django at once: tens of seconds, minutes on a loaded machine (the
# waits go on while `make run` keeps printing; see MakeRun.wait_for).
pytestmark = pytest.mark.timeout(900)
PROCESSES = {"web", "default", "dispatch", "simulator", "bulk", "beat"}


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[str, str]]:
    return {"environment": generate_key_pair(), "dotenv": generate_key_pair()}


@pytest.fixture(scope="module")
def running(make_run, keys) -> MakeRun:
    env_seed, env_public = keys["environment"]
    file_seed, file_public = keys["dotenv"]
    run = make_run(
        dotenv={
            "SECRET_KEY": new_secret(),
            "DEBUG": "true",
            "SIMULATOR_SIGNING_KEY": file_seed,
            "TELNYX_PUBLIC_KEY": file_public,
        },
        env={"SIMULATOR_SIGNING_KEY": env_seed, "TELNYX_PUBLIC_KEY": env_public},
    )
    run.wait_for(run.answering, what="the web to answer")
    # Every worker up (its "ready." line) and beat started, before anything is killed.
    nodes = [f"{queue}-{run.port}@" for queue in ("default", "dispatch", "simulator", "bulk")]
    run.wait_for(
        lambda: all(_ready_lines(run, node) for node in nodes) and "beat: Starting" in run.output(),
        what="every worker to be ready and beat to start",
    )
    return run


def _ready_lines(run: MakeRun, node: str) -> int:
    return sum(1 for line in run.output().splitlines() if node in line and " ready." in line)


def post_webhook(run: MakeRun, seed: str) -> httpx.Response:
    """An inbound-text event as Telnyx posts it, signed with `seed`."""
    body = event_body(
        events.message_received(
            message_id=str(uuid.uuid4()),
            event_id=str(uuid.uuid4()),
            from_="+15035550199",
            to="+19715550123",
            text="Hello there",
            parts=1,
            encoding="GSM-7",
        )
    )
    return httpx.post(
        f"{run.url}/webhooks/telnyx/",
        content=body,
        headers=signed_headers(body, seed_b64=seed),
        timeout=10,
    )


def test_the_environment_wins_over_dotenv(running, keys):
    assert post_webhook(running, keys["environment"][0]).status_code == 200, (
        "a webhook signed with the environment's key was refused: .env's key won"
    )
    assert post_webhook(running, keys["dotenv"][0]).status_code == 403


def test_a_killed_process_is_restarted_and_the_others_keep_running(running):
    before = running.main_processes()
    assert set(before) == PROCESSES, f"running: {before}\n{running.tail()}"
    dispatch_ready = _ready_lines(running, f"dispatch-{running.port}@")
    pool = [p for p in processes_under(running.tree) if parent(p) == before["dispatch"]]
    assert len(pool) == 2  # the Procfile's -c 2

    os.kill(before["dispatch"], signal.SIGKILL)  # the dispatcher's main process
    time.sleep(1)
    assert running.answering(), "the web stopped when the dispatcher died"
    running.wait_for(
        lambda: (
            f"dispatcher (pid {before['dispatch']}) exited: killed by SIGKILL" in running.output()
        ),
        what="the process manager to report the dispatcher's death",
        limit=30,
    )
    running.wait_for(
        lambda: _ready_lines(running, f"dispatch-{running.port}@") > dispatch_ready,
        what="a new dispatcher to be ready",
    )
    after = running.main_processes()
    assert after["dispatch"] != before["dispatch"]
    assert {k: v for k, v in after.items() if k != "dispatch"} == {
        k: v for k, v in before.items() if k != "dispatch"
    }, "another process was stopped or restarted"
    # The dead main process's pool did not work on beside the new one.
    assert not [p for p in pool if alive(p)]
    assert running.answering()


def test_ctrl_c_stops_every_process(running):
    """Last in this module: it stops the instance the others used."""
    assert running.main_processes()
    # The terminal's Ctrl-C: SIGINT to the foreground process group (make and the
    # process manager; the processes it started are in sessions of their own).
    os.killpg(running.popen.pid, signal.SIGINT)
    running.popen.wait(timeout=60)
    assert running.output().rstrip().endswith("| all stopped"), running.tail()
    stopping = running.output().split("| stopping ")[-1]
    assert "restarted (pid" not in stopping
    # Each Celery worker was asked to stop, not its pool processes mid-task.
    assert "exited prematurely: signal 15 (SIGTERM)" not in stopping, stopping
    wait_until(lambda: not processes_under(running.tree), timeout=10, what="every process to stop")
