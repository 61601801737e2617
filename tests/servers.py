"""Real servers for tests that need HTTP or WebSockets over a socket."""

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    predicate: Callable[[], object], *, timeout: float, what: str, every: float = 0.05
) -> object:
    """predicate()'s first truthy value, polled every `every` s; AssertionError naming
    `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


@contextlib.contextmanager
def uvicorn_thread(app, **options) -> Iterator[str]:
    """`app` under uvicorn in a daemon thread, as the Procfile runs it; yields its base
    URL and stops it afterwards."""
    import uvicorn

    port = free_port()
    options = {"lifespan": "off", "log_level": "warning", **options}
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
