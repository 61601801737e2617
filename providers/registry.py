"""Provider adapters by name. `get_provider()` returns the one settings.PROVIDER names.

A new adapter registers a factory here (`register_provider("name", factory)`); one
instance is built per process and reused (the Telnyx SDK client is thread-safe and
pools its connections).
"""

import threading
from collections.abc import Callable

from django.conf import settings

from .base import MessagingProvider

ProviderFactory = Callable[[], MessagingProvider]


def _telnyx() -> MessagingProvider:
    from .telnyx_adapter import TelnyxProvider

    return TelnyxProvider()


def _simulator() -> MessagingProvider:
    from .simulator.adapter import SimulatorProvider

    return SimulatorProvider()


_factories: dict[str, ProviderFactory] = {"simulator": _simulator, "telnyx": _telnyx}
_instances: dict[str, MessagingProvider] = {}
_lock = threading.Lock()


def register_provider(name: str, factory: ProviderFactory) -> None:
    with _lock:
        _factories[name] = factory
        _instances.pop(name, None)


def get_provider(name: str | None = None) -> MessagingProvider:
    name = name or settings.PROVIDER or "simulator"
    instance = _instances.get(name)
    if instance is not None:
        return instance
    with _lock:
        if name not in _instances:
            try:
                factory = _factories[name]
            except KeyError:
                raise LookupError(
                    f"No messaging provider named {name!r}; known: {sorted(_factories)}"
                ) from None
            _instances[name] = factory()
        return _instances[name]


def reset_providers() -> None:
    """Forget the cached instances (tests that change provider settings)."""
    with _lock:
        _instances.clear()
