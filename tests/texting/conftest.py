from tests.providers.conftest import (  # noqa: F401  (shared fixtures)
    celery_eager,
    mps_windows,
    quiet_simulator,
    signing_keys,
)
