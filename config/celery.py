import os

from celery import Celery
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("a2p")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# A worker must outlive a Redis restart (issue 14). When the broker connection drops,
# Celery 5.7 collects the connection (its kombu transport is closed: `client` is None)
# and then closes it; closing the default channel restores the unacked messages of the
# tasks still running (acks_late), which needs a new Redis pool, and kombu 5.7 builds
# one from the closed transport: AttributeError ('NoneType' object has no attribute
# 'hostname'). That is not a connection error, so nothing catches it and the worker
# exits ("Unrecoverable error"). An ack on such a channel fails the same way. Raising
# the transport's own connection error instead lets every one of those callers handle
# it as they already do (ignore it while closing, log "Couldn't ack"). The messages stay
# in Redis's unacked set, redelivered after the visibility timeout exactly as they would
# have been after the worker's exit (a restart without persistence has lost them anyway:
# the beat-driven ticks and the dispatcher's leases cover that).
_get_pool = kombu_redis.Channel._get_pool


def _get_pool_unless_closed(self: kombu_redis.Channel, asynchronous: bool = False):
    if self.connection is None or self.connection.client is None:
        raise RedisConnectionError("the broker connection of this channel is closed")
    return _get_pool(self, asynchronous=asynchronous)


kombu_redis.Channel._get_pool = _get_pool_unless_closed
