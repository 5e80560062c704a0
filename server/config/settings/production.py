"""The one settings module, for web, workers, beat and management commands alike.

Environments differ only through the variables read in ``server.config.env``; they are listed in
the README. DEBUG is off unless the environment asks for it (``make run`` does). Without
DATABASE_URL and REDIS_URL the result is the embedded single-machine setup (SQLite, Celery tasks
run in-process, SMS printed to the console).
"""

from __future__ import annotations

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from server.config.env import REPO_DIR, env_bool, env_float, env_int, env_list, env_str

DEBUG = env_bool("DEBUG", False)

# A random key is generated per process only when DEBUG is on, so a production deployment that
# forgets SECRET_KEY fails loudly instead of signing sessions with a well-known value.
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-embedded-default-only-for-DEBUG"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Public URL the outside world uses to reach us (Twilio signs this URL). Empty: use the request's.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "ninja",  # its Swagger UI files, served from our own static files (no CDN)
    "django_htmx",
    "server.common",
    "server.accounts",
    "server.customers",
    "server.technicians",
    "server.workorders",
    "server.intake",
    "server.scheduling",
    "notifications",
    "server.care",
    "server.crm",
    "server.tracking",
    "server.console",
    "server.config",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A database that is down or restarting answers 503 with Retry-After, not 500.
    "server.common.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The console's language: the user's choice (a cookie set by set_language), else the browser's.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

# Failed logins are counted by django-axes (web and API): after AXES_FAILURE_LIMIT failures for
# one username from one address, that pair is locked out for AXES_COOLOFF_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_float("AXES_COOLOFF_MINUTES", 15.0) / 60.0  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_IPWARE_PROXY_COUNT = 1 if env_bool("BEHIND_TLS_PROXY", False) else None

# Bearer tokens of the phone app expire this long after they were issued (log in again).
API_TOKEN_TTL_HOURS = env_int("API_TOKEN_TTL_HOURS", 24 * 30)

ROOT_URLCONF = "server.config.urls"
WSGI_APPLICATION = "server.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

VAR_DIR = REPO_DIR / "var"
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'fixroute.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database that is restarting must fail a request fast (503), not hang a worker.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 5))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serves concurrent requests too (two agents, the phone app, a background re-plan):
    # WAL lets readers run beside the one writer, every transaction takes the write lock when it
    # begins (IMMEDIATE: two writers never deadlock upgrading a read lock, the loser waits), and
    # a writer waits up to 20 s for it instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [REPO_DIR / "server" / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600  # the user's choice is remembered

# The staff console signs in with Django's session login (throttled by django-axes as the API is).
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "console:login"
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env_str("STATIC_ROOT", str(VAR_DIR / "static"))
# Uploads (the technicians' job photos). Not served by URL: staff views read them after a
# permission check. Every web process must see the same folder (one volume, or shared storage).
MEDIA_ROOT = env_str("MEDIA_ROOT", str(VAR_DIR / "media"))
# whitenoise serves the collected files from the web process itself (compressed, cached); with
# DEBUG on it serves them straight from the apps, without collectstatic.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# Request bodies: the largest JSON or form body any endpoint takes (webhooks, the API).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 256 * 1024)

# --- HTTPS ------------------------------------------------------------------------------------
# Secure by default once DEBUG is off; a closed network without TLS turns these off explicitly.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the load balancer's and compose's plain-HTTP probe
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Celery -----------------------------------------------------------------------------------
# No REDIS_URL: the embedded default, tasks run in-process right after the transaction commits.
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
# A message reserved by a worker that died is redelivered after the visibility timeout: 5 minutes,
# well inside the 10 minutes after which the SMS redrive reconciles a row left SENDING. Every
# countdown and time limit stays below it (retries kick at most 2 minutes ahead; re-plans stop
# at DISPATCH_REPLAN_MAX_SECONDS).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300, "socket_connect_timeout": 2}
# Sending a task to a broker that is down gives up within about a second (the caller's commit
# hook logs it; the beat sweepers re-send what matters) instead of holding the request.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "fixroute")
CELERY_TIMEZONE = TIME_ZONE
# Re-plans have a queue of their own. Its worker must run tasks in a non-daemonic process
# (`--pool threads`): the solver forks a second search, which a prefork child may not do.
CELERY_REPLAN_QUEUE = env_str("CELERY_REPLAN_QUEUE", "replan")
CELERY_TASK_ROUTES = {
    task: {"queue": CELERY_REPLAN_QUEUE}
    for task in (
        "server.scheduling.tasks.replan",
        "server.scheduling.tasks.replan_today",
        "server.scheduling.tasks.replan_job_run",
    )
}
CELERY_BEAT_SCHEDULE = {
    "sms-redrive": {"task": "notifications.tasks.sms_redrive", "schedule": 60.0},
    "replan-today": {"task": "server.scheduling.tasks.replan_today", "schedule": 15 * 60.0},
    # Maintenance reminders once a day at REMINDERS_LOCAL_HOUR (local time, never at night).
    "crm-reminders": {
        "task": "server.crm.tasks.reminders_daily",
        "schedule": crontab(hour=env_int("REMINDERS_LOCAL_HOUR", 10), minute=0),
    },
    # Raw call payloads and SMS bodies older than RETENTION_DAYS, positions older than
    # LOCATION_RETENTION_DAYS, are purged nightly.
    "crm-retention": {"task": "server.crm.tasks.retention_purge", "schedule": crontab(hour=3, minute=30)},
    # Tomorrow's booked visits are reminded the evening before (SMS_DAY_BEFORE_HOUR, local time).
    "visit-reminders": {
        "task": "server.crm.tasks.visit_reminders_daily",
        "schedule": crontab(hour=env_int("SMS_DAY_BEFORE_HOUR", 18), minute=0),
    },
    # Running late is noticed even when no phone reports a position (a job that runs over).
    "visit-eta-sweep": {"task": "server.crm.tasks.visit_eta_sweep", "schedule": 5 * 60.0},
}

# --- The customer record (server.crm) -----------------------------------------------------------
RETENTION_DAYS = env_int("RETENTION_DAYS", 365)
# The technicians' reported positions are deleted after this many days (nightly, with the above).
LOCATION_RETENTION_DAYS = env_int("LOCATION_RETENTION_DAYS", 30)
# Customers with no order for this many months are listed for a follow-up call.
DORMANT_MONTHS = env_int("DORMANT_MONTHS", 12)

# --- Company and SMS --------------------------------------------------------------------------
COMPANY_NAME = env_str("COMPANY_NAME", "Fixroute Repairs")
PHONE_DEFAULT_REGION = env_str("PHONE_DEFAULT_REGION", "CN")
SMS_PROVIDER = env_str("SMS_PROVIDER", "console")
SMS_SIGNATURE = env_str("SMS_SIGNATURE", "Fixroute")
# English texts are GSM-7 (160 characters): a Chinese signature would make them Unicode (70), so
# they carry their own, Latin signature. Empty: the company's signature if it is Latin already.
SMS_SIGNATURE_EN = env_str("SMS_SIGNATURE_EN", SMS_SIGNATURE if SMS_SIGNATURE.isascii() else "")
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER")
# Aliyun SMS (mainland China): chosen for +86 numbers when ALIYUN_SMS_ACCESS_KEY_ID is set.
ALIYUN_SMS_ACCESS_KEY_ID = env_str("ALIYUN_SMS_ACCESS_KEY_ID")
ALIYUN_SMS_ACCESS_KEY_SECRET = env_str("ALIYUN_SMS_ACCESS_KEY_SECRET")
ALIYUN_SMS_SIGN_NAME = env_str("ALIYUN_SMS_SIGN_NAME")
ALIYUN_SMS_ENDPOINT = env_str("ALIYUN_SMS_ENDPOINT", "dysmsapi.aliyuncs.com")
# Template codes per message kind, as approved by Aliyun: "booked=SMS_1234,on_my_way=SMS_5678,…".
ALIYUN_SMS_TEMPLATES = env_str("ALIYUN_SMS_TEMPLATES")
# Aliyun's HTTP pushes (delivery reports, replies) carry no signature: their URL carries this
# secret (?token=...). Empty: pushes are refused, except with DEBUG (the embedded default).
ALIYUN_SMS_PUSH_TOKEN = env_str("ALIYUN_SMS_PUSH_TOKEN")
# Customers are not texted at night (their local time) unless the message is urgent; the
# message waits for the morning in the outbox (its not_before), never in a Celery countdown.
SMS_QUIET_HOURS = env_str("SMS_QUIET_HOURS", "21:00-08:00")
# At most this many texts to one number in 24 hours (urgent ones excepted).
SMS_DAILY_CAP = env_int("SMS_DAILY_CAP", 8)
# What handles a customer's SMS reply once notifications has recorded it and applied STOP/START
# (dotted path, imported by name: notifications never imports the server's apps).
SMS_REPLY_HANDLER = env_str("SMS_REPLY_HANDLER", "server.crm.replies.sms_reply_handle")
# The day-before reminder of a booked visit goes out at this local hour.
SMS_DAY_BEFORE_HOUR = env_int("SMS_DAY_BEFORE_HOUR", 18)
# The customer's tracking link expires this long after the visit ends.
TRACKING_LINK_GRACE_HOURS = env_int("TRACKING_LINK_GRACE_HOURS", 2)

# --- Intake -----------------------------------------------------------------------------------
# A call from a customer with an open order created within this many days joins that order.
INTAKE_REPEAT_CALL_DAYS = env_int("INTAKE_REPEAT_CALL_DAYS", 7)
# Shared secret for the generic CTI webhook (header X-Fixroute-Token). Empty: only with DEBUG.
CTI_WEBHOOK_TOKEN = env_str("CTI_WEBHOOK_TOKEN")
# The phone menu offered to callers (server.intake.menu): a JSON file of entries (digit, labels in
# Chinese and English, equipment type, skill); empty: the built-in menu.
IVR_MENU_JSON = env_str("IVR_MENU_JSON")

# --- Geocoding --------------------------------------------------------------------------------
# A typed address without coordinates is geocoded through geopy. GEOCODER: none (the offline
# default: the order is saved and flagged for review) or nominatim (any Nominatim-compatible
# service at GEOCODER_URL, e.g. a self-hosted one on a closed network).
GEOCODER = env_str("GEOCODER", "none")
if GEOCODER not in ("none", "nominatim"):
    raise ImproperlyConfigured(f"GEOCODER={GEOCODER!r}: use none or nominatim")
GEOCODER_URL = env_str("GEOCODER_URL")
GEOCODER_USER_AGENT = env_str("GEOCODER_USER_AGENT", "fixroute")
GEOCODER_TIMEOUT_SECONDS = env_float("GEOCODER_TIMEOUT_SECONDS", 3.0)
GEOCODER_COUNTRY_CODES = env_str("GEOCODER_COUNTRY_CODES", "cn")

# --- Dispatch ---------------------------------------------------------------------------------
ROUTING_PROVIDER = env_str("ROUTING_PROVIDER", "geodesic")  # geodesic | osrm
OSRM_URL = env_str("OSRM_URL")
ROUTING_CIRCUITY = env_float("ROUTING_CIRCUITY", 1.3)
ROUTING_SPEED_KMH = env_float("ROUTING_SPEED_KMH", 30.0)
DISPATCH_REPLAN_SECONDS = env_float("DISPATCH_REPLAN_SECONDS", 5.0)
DISPATCH_REPLAN_DEBOUNCE_SECONDS = env_int("DISPATCH_REPLAN_DEBOUNCE_SECONDS", 30)
# Upper bound of the time limit a re-plan may be asked for through the API.
DISPATCH_REPLAN_MAX_SECONDS = env_float("DISPATCH_REPLAN_MAX_SECONDS", 60.0)
# How re-plans run off the request path (server.scheduling.background): auto (celery with a
# broker, else a background thread), thread, celery or inline (right after commit, for tests).
DISPATCH_BACKGROUND = env_str("DISPATCH_BACKGROUND", "auto")
if DISPATCH_BACKGROUND not in ("auto", "thread", "celery", "inline"):
    raise ImproperlyConfigured(f"DISPATCH_BACKGROUND={DISPATCH_BACKGROUND!r}: use auto, thread, celery or inline")
DEFAULT_SERVICE_MINUTES = env_int("DEFAULT_SERVICE_MINUTES", 60)
# Width of the arrival window a customer is promised when they asked for no window of their own.
PROMISE_WINDOW_MINUTES = env_int("PROMISE_WINDOW_MINUTES", 60)
# A re-plan that moves an order's planned arrival by this much or more writes an event.
PLAN_CHANGE_EVENT_MINUTES = env_int("PLAN_CHANGE_EVENT_MINUTES", 15)

# --- Cache (debounce keys for re-planning) -----------------------------------------------------
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that hangs must not hold a request (or a worker) for long.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
