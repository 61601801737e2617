"""Settings, read from the environment (django-environ).

Precedence: variables already set in the environment win over `.env`, which wins over
the defaults below. That is what lets two instances run side by side on different
databases and ports.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.retry import Retry as RedisRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# read_env never overrides a variable that is already set.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Put it in the environment or in .env "
        "(`make run` and `make test` write a random one into .env)."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
PORT = env.int("PORT", default=8000)
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default=f"http://127.0.0.1:{PORT}").rstrip("/")
SHORT_LINK_DOMAIN = env.str("SHORT_LINK_DOMAIN", default=f"127.0.0.1:{PORT}")
# The branded short-link domain (texting.links, `/s/<code>`) is served by this app.
if "*" not in ALLOWED_HOSTS and SHORT_LINK_DOMAIN.split(":")[0] not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(SHORT_LINK_DOMAIN.split(":")[0])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL])

# --- Messaging provider -------------------------------------------------------------
PROVIDER = env.str("PROVIDER", default="simulator")
if PROVIDER not in ("simulator", "telnyx"):
    raise ImproperlyConfigured(f"PROVIDER must be 'simulator' or 'telnyx', not {PROVIDER!r}.")
TELNYX_API_KEY = env.str("TELNYX_API_KEY", default="")
TELNYX_MESSAGING_PROFILE_ID = env.str("TELNYX_MESSAGING_PROFILE_ID", default="")
TELNYX_BASE_URL = env.str("TELNYX_BASE_URL", default="") or None
SIMULATOR_SIGNING_KEY = env.str("SIMULATOR_SIGNING_KEY", default="")
TELNYX_PUBLIC_KEY = env.str("TELNYX_PUBLIC_KEY", default="")
if PROVIDER == "telnyx":
    for _name in ("TELNYX_API_KEY", "TELNYX_PUBLIC_KEY"):
        if not globals()[_name]:
            raise ImproperlyConfigured(
                f"PROVIDER=telnyx needs {_name}; set it in the environment or .env."
            )
else:
    from providers.signing import public_key_from_seed, seed_from_secret

    if not SIMULATOR_SIGNING_KEY and not TELNYX_PUBLIC_KEY:
        # `make run` writes a fresh pair into .env; elsewhere (docker compose) every
        # process that shares SECRET_KEY derives the same pair.
        SIMULATOR_SIGNING_KEY = seed_from_secret(SECRET_KEY)
    if SIMULATOR_SIGNING_KEY and not TELNYX_PUBLIC_KEY:
        # The simulator signs like Telnyx; its public half verifies our webhooks.
        TELNYX_PUBLIC_KEY = public_key_from_seed(SIMULATOR_SIGNING_KEY)
WEBHOOK_TOLERANCE_SECONDS = 300
# Where the simulator posts its signed events (our own webhook endpoint by default).
SIMULATOR_WEBHOOK_URL = env.str(
    "SIMULATOR_WEBHOOK_URL", default=f"{PUBLIC_BASE_URL}/webhooks/telnyx/"
)
SIMULATOR_LATENCY_MS = env.int("SIMULATOR_LATENCY_MS", default=100)
SIMULATOR_DELIVERED_RATIO = env.float("SIMULATOR_DELIVERED_RATIO", default=0.95)
SIMULATOR_FAILED_RATIO = env.float("SIMULATOR_FAILED_RATIO", default=0.03)
SIMULATOR_REPLY_RATE = env.float("SIMULATOR_REPLY_RATE", default=0.05)
SIMULATOR_STOP_RATE = env.float("SIMULATOR_STOP_RATE", default=0.01)
SIMULATOR_RECEIPT_DELAY_MS = env.int("SIMULATOR_RECEIPT_DELAY_MS", default=500)
# Tries per webhook post (backoff 2, 4, 8, 16, then 30 s): 3 minutes of receiver outage.
SIMULATOR_WEBHOOK_ATTEMPTS = env.int("SIMULATOR_WEBHOOK_ATTEMPTS", default=10)
SIMULATOR_REGISTRATION_SECONDS = env.float("SIMULATOR_REGISTRATION_SECONDS", default=5)
SIMULATOR_SEED = env.str(
    "SIMULATOR_SEED", default="a2p"
)  # outcomes: Random(f"{seed}:{idempotency key}")
SIMULATOR_DEFAULT_MPS = {  # for senders the simulator did not provision itself
    "long": env.float("SIMULATOR_MPS_LONG", default=10),
    "toll_free": env.float("SIMULATOR_MPS_TOLL_FREE", default=20),
    "short": env.float("SIMULATOR_MPS_SHORT", default=100),
}

# --- Apps ---------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files, not a CDN
    "django_htmx",
    "channels",
    # Our apps, in dependency order (an app imports only from apps above it).
    "accounts",
    "contacts",
    "providers",
    "phone_numbers",
    "compliance",
    "texting",
    "conversations",
    "automations",
]

# Provider webhooks (/webhooks/telnyx/) do not pass through this chain under ASGI: the
# fast path in providers.ingest answers them first (config/asgi.py).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.RejectUnstorableQueryMiddleware",  # NUL in a query: 400 (issue 14)
    # Last on purpose: a sync-only innermost middleware keeps the whole chain in one
    # thread under ASGI (see its docstring). It needs only sessions and auth above it.
    "accounts.middleware.CurrentAccountMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.current_account",
            ],
        },
    },
]

# --- Data stores --------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/a2p")
}
# A small connection pool per process (psycopg_pool). The dispatcher's threads borrow a
# connection per message and give it back while the provider call is in flight, instead
# of opening one each time (a PostgreSQL backend costs milliseconds to start) or holding
# one per thread (max_connections is 100 here).
if env.bool("DB_POOL", default=True):
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them; Django must not
    DATABASES["default"]["OPTIONS"] = {
        "pool": {
            "min_size": 0,
            "max_size": env.int("DB_POOL_MAX_SIZE", default=20),
            "max_idle": 60,
            "timeout": 30,
        }
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
}
# The channel layer's connections (channels_redis passes a hosts dict to redis-py's
# ConnectionPool.from_url). Its receive is a BZPOPMIN that blocks for 5 s; redis-py's
# default socket timeout is also 5 s, so every idle WebSocket died with a timeout after
# ~5 s (issue 14). The read timeout must outlast the blocking read. Idle connections
# are pinged before reuse and a failed command is retried on a fresh connection, so a
# Redis restart costs a moment, not the web process's sockets for good.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    "socket_timeout": 15,
                    "socket_connect_timeout": 2,
                    "socket_keepalive": True,
                    "health_check_interval": 10,
                    "retry": RedisRetry(ExponentialBackoff(cap=1.0, base=0.1), retries=3),
                    "retry_on_error": [RedisConnectionError, RedisTimeoutError],
                }
            ],
            "capacity": 100,
            "expiry": 60,
        },
    }
}

# --- Celery -------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "providers.simulator.*": {"queue": "simulator"},
    # Drain loops run for up to a minute each: their own queue and worker, so webhooks
    # and everything else on `default` never wait behind them.
    "texting.tasks.dispatch_tick": {"queue": "dispatch"},
    # Long work (contact imports, the media cleanup; exports and image processing when
    # they become tasks) on its own queue and worker (`celery -A config worker -Q bulk
    # -c 1`): a big import once held the `default` worker for minutes, and a STOP waited
    # behind it. Nothing of webhook processing (providers.tasks.*) may go here.
    "contacts.tasks.import_contacts": {"queue": "bulk"},
    "texting.tasks.media_cleanup": {"queue": "bulk"},
}
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker whose broker went away retries for ever (Celery's default gives up after
# 100 attempts, ~50 min, and exits). See config/celery.py for the ack after a restart.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE: dict = {
    "retry-parked-webhook-events": {
        "task": "providers.tasks.retry_parked_events",
        "schedule": 60.0,
    },
    # Stored webhook events are drained when their store kicks a drain; this covers a
    # lost kick within a second. Expires so a busy worker never finds a pile of them.
    "drain-webhook-events": {
        "task": "providers.tasks.drain_webhook_events",
        "schedule": 1.0,
        "options": {"expires": 5.0},
    },
    # The dispatcher's heartbeat: the send queue lives in PostgreSQL; this only kicks it.
    "dispatch-tick": {"task": "texting.tasks.dispatch_tick", "schedule": 1.0},
    # Live status: the trailing push for campaigns that changed inside a throttle window.
    "flush-live": {"task": "texting.tasks.flush_live", "schedule": 1.0},
    # MMS media older than MMS_MEDIA_RETENTION_DAYS are deleted (daily).
    "media-cleanup": {"task": "texting.tasks.media_cleanup", "schedule": 24 * 3600.0},
    # Snoozed conversations whose time passed are open again.
    "reopen-snoozed": {"task": "conversations.tasks.reopen_snoozed", "schedule": 60.0},
}
if PROVIDER == "simulator":
    # The simulated network's clock: receipts and replies are kicked after each send;
    # this covers a lost kick within a second (and expires rather than piling up).
    CELERY_BEAT_SCHEDULE["simulator-lifecycle"] = {
        "task": "providers.simulator.pump_lifecycle",
        "schedule": 1.0,
        "options": {"expires": 5.0},
    }

# --- Auth, API ----------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},  # 8
]
# API tokens (accounts.models.ApiToken): each lives this many days from its issue.
API_TOKEN_DAYS = env.int("API_TOKEN_DAYS", default=30)
API_TOKENS_PER_USER = env.int("API_TOKENS_PER_USER", default=20)  # the oldest go beyond
# Password guessing (accounts.services.login_authenticate): after this many failures in
# LOGIN_FAILURE_WINDOW seconds a username, or a client IP, is refused until the window ends.
LOGIN_FAILURE_WINDOW = env.int("LOGIN_FAILURE_WINDOW", default=15 * 60)
LOGIN_FAILURES_PER_USERNAME = env.int("LOGIN_FAILURES_PER_USERNAME", default=5)
LOGIN_FAILURES_PER_IP = env.int("LOGIN_FAILURES_PER_IP", default=20)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "accounts.api.Pagination",
    # NUL, lone surrogates, NaN/Infinity and over-deep JSON are a 400 here (issue 14).
    "DEFAULT_PARSER_CLASSES": [
        "accounts.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "accounts.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "A2P Texting API",
    "DESCRIPTION": "Public API v1: contacts, numbers, campaigns, conversations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `kind` or `mode`: name each set of choices after its owner.
    "ENUM_NAME_OVERRIDES": {
        "NumberKindEnum": "phone_numbers.models.NumberKind.choices",
        "TribeKindEnum": "contacts.models.TribeKind.choices",
        "MediaKindEnum": "texting.models.MediaKind.choices",
        "MessageKindEnum": "texting.models.MessageKind.choices",
        "CampaignModeEnum": "texting.models.CampaignMode.choices",
        "TribeModeEnum": "contacts.models.TribeMode.choices",
        "MessageStatusEnum": "texting.models.MessageStatus.choices",
        "ConversationStatusEnum": "conversations.models.ConversationStatus.choices",
    },
}

# --- i18n, static -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / "media"))
MEDIA_URL = "media/"

# Per-segment prices (USD) by number kind, used for estimates until receipts carry cost.
SEGMENT_PRICE = {"long": "0.0070", "toll_free": "0.0080", "short": "0.0060"}
# MMS is billed per message, not per segment (telnyx.md §7: $0.015 outbound).
MMS_PRICE = env.str("MMS_PRICE", default="0.0150")

# --- MMS media (texting.media) ------------------------------------------------------
# Telnyx: under 1 MB of media per message; images are fitted under this, other media
# over it are refused.
MMS_MAX_BYTES = env.int("MMS_MAX_BYTES", default=1_000_000)
MMS_UPLOAD_MAX_BYTES = env.int("MMS_UPLOAD_MAX_BYTES", default=20_000_000)
# Images over this many pixels are refused from their header, before any decoding (a
# decoded image takes up to 4 bytes a pixel); at most MMS_IMAGE_DECODES are decoded at
# once per web process.
MMS_IMAGE_MAX_PIXELS = env.int("MMS_IMAGE_MAX_PIXELS", default=25_000_000)
MMS_IMAGE_DECODES = env.int("MMS_IMAGE_DECODES", default=2)
# Any request body over this is answered 413 before it is read (config.bodylimit, under
# ASGI): above the largest upload (contact import 20 MiB, MMS_UPLOAD_MAX_BYTES).
REQUEST_MAX_BYTES = env.int("REQUEST_MAX_BYTES", default=25_000_000)
# How long a signed media URL handed to the provider stays valid.
MMS_MEDIA_URL_SECONDS = env.int("MMS_MEDIA_URL_SECONDS", default=24 * 3600)
MMS_MEDIA_RETENTION_DAYS = env.int("MMS_MEDIA_RETENTION_DAYS", default=90)

# --- Dispatcher (texting.dispatch) --------------------------------------------------
# Senders run at this share of their MPS and count segments over a window this much
# longer than the carrier's: room for send-time jitter, so an on-time call is seldom
# held at the window check right before it (which is what keeps the carrier's second).
DISPATCH_RATE_MARGIN = env.float("DISPATCH_RATE_MARGIN", default=0.97)
# A sender that fell behind its pace may send up to this many seconds early to catch up
# (its carrier window still holds): a stall costs a moment, not a lasting lag. About
# one window: at 95% of the rate the spacing alone leaves 2% spare, so a 0.5 s lag
# would otherwise last ~25 s; the window's own room clears it at once.
DISPATCH_CATCH_UP_SECONDS = env.float("DISPATCH_CATCH_UP_SECONDS", default=1.0)
# A claimed message whose worker died goes back to the queue after this long.
DISPATCH_LEASE_SECONDS = env.int("DISPATCH_LEASE_SECONDS", default=60)
# One drain loop runs at most this long (then the next beat kick starts another; the
# handover costs its senders up to a second, so not too often).
DISPATCH_LOOP_SECONDS = env.float("DISPATCH_LOOP_SECONDS", default=300)
# A drain loop with nothing to do for this long ends (the next beat kick starts another).
DISPATCH_IDLE_EXIT_SECONDS = env.float("DISPATCH_IDLE_EXIT_SECONDS", default=5.0)
# Provider calls in flight per drain loop (threads; the calls are network-bound).
DISPATCH_MAX_IN_FLIGHT = env.int("DISPATCH_MAX_IN_FLIGHT", default=48)
# Drain loops kicked when a campaign starts sending (at least the dispatch processes
# there are: the Procfile's dispatcher has 2; extra kicks expire unused).
DISPATCH_KICK_LOOPS = env.int("DISPATCH_KICK_LOOPS", default=4)

# --- Macro send (conversations, issue 14) ---------------------------------------------
# Conversations one macro send may name (API and inbox): a longer list is a 400 naming
# the cap before any id is read, so a request cannot cost the web process minutes.
MACRO_SEND_MAX_CONVERSATIONS = env.int("MACRO_SEND_MAX_CONVERSATIONS", default=500)

# --- Production hardening (active whenever DEBUG is off) ----------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Providers do not follow redirects; a webhook answered 301 would be lost. The
    # Ed25519 signature, not the transport, authenticates these requests.
    SECURE_REDIRECT_EXEMPT = [r"^webhooks/"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
