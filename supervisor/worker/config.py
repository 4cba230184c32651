"""The worker's configuration: environment variables and options -> :class:`WorkerConfig`.

:func:`parse_config` is pure: it takes the environment and the command-line overrides (both keyed
by variable name) and returns a checked configuration, or raises :class:`ConfigError` whose one-line
message names the variable, its value (masked when secret) and what to do.

Integers follow Python's ``int()`` (surrounding spaces and ``_`` between digits allowed), as the
original worker read them; where the original crashed on a bad value, we refuse with a message.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Mapping, Optional, TypeVar

from supervisor.atproto import endpoints
from supervisor.secrets import environment_secrets, mask_text, mask_value, redact_words
from supervisor.worker.errors import ConfigError

__all__ = [
    "WorkerConfig",
    "Variable",
    "VARIABLES",
    "SUBSCRIBE_PATH",
    "parse_config",
    "subscribe_url",
    "mask_database_url",
]

SUBSCRIBE_PATH = endpoints.SUBSCRIBE_PATH

_LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


@dataclasses.dataclass(frozen=True)
class Variable:
    """One configuration variable: its name, default (None = required) and meaning."""

    name: str
    default: Optional[str]
    help: str
    option: str


#: Every variable the worker reads, in the order the documentation lists them.
VARIABLES: tuple[Variable, ...] = (
    Variable(
        "RELAY_URL",
        "wss://bsky.network",
        "Relay host (wss://bsky.network) or full subscribeRepos URL; ws:// for a local relay.",
        "--relay-url",
    ),
    Variable("DATABASE_URL", None, "PostgreSQL URL or conninfo string.", "--database-url"),
    Variable("DB_POOL_SIZE", "4", "Maximum number of database connections (1 or more).", "--db-pool-size"),
    Variable("LOG_LEVEL", "info", "debug, info, warning, error or critical.", "--log-level"),
    Variable("WORKER_ID", "0", "Worker number; only worker 0 may backfill.", "--worker-id"),
    Variable(
        "BACKFILL_DAYS",
        "0",
        "0 off, -1 all history the relay keeps, N the last N days (below -1 acts as 0).",
        "--backfill-days",
    ),
    Variable(
        "BACKFILL_BATCH_SIZE",
        "5",
        "Backfill events per batch (with the delay: a maximum rate).",
        "--backfill-batch-size",
    ),
    Variable(
        "BACKFILL_BATCH_DELAY_MS",
        "2000",
        "Minimum time between the starts of two backfill batches.",
        "--backfill-batch-delay-ms",
    ),
    Variable(
        "BACKFILL_MAX_MEMORY_MB",
        "512",
        "Resident memory ceiling: above it the backfill pauses.",
        "--backfill-max-memory-mb",
    ),
    Variable(
        "BACKFILL_MODE",
        "auto",
        "replay (the relay's window), crawl (getRepo of every repository) or auto: replay when "
        "BACKFILL_DAYS fits in RELAY_WINDOW_HOURS, else crawl (-1 always crawls).",
        "--backfill-mode",
    ),
    Variable(
        "BACKFILL_SOURCE",
        "relay",
        "Where a crawl lists the repositories: relay (its listRepos) or hosts (listHosts, then each host's listRepos).",
        "--backfill-source",
    ),
    Variable("BACKFILL_CONCURRENCY", "10", "Repositories a crawl fetches at once.", "--backfill-concurrency"),
    Variable(
        "BACKFILL_PDS_RATE", "2", "Most requests per second a crawl sends to one PDS host.", "--backfill-pds-rate"
    ),
    Variable("BACKFILL_GLOBAL_RATE", "50", "Most requests per second a crawl sends in all.", "--backfill-global-rate"),
    Variable(
        "BACKFILL_REQUEST_TIMEOUT",
        "60",
        "Seconds a crawl request may take (connect, and between two reads).",
        "--backfill-request-timeout",
    ),
    Variable(
        "BACKFILL_HOST_PARK_SECONDS",
        "60",
        "Seconds a crawl sets a failing host aside at first (doubling each time, at most 1800).",
        "--backfill-host-park-seconds",
    ),
    Variable(
        "BACKFILL_HOST_MAX_PARKS",
        "5",
        "Times in a row a failing host is set aside before the crawl gives it up as unreachable "
        "(its repositories are tried again at the next start).",
        "--backfill-host-max-parks",
    ),
    Variable(
        "BACKFILL_REPO_MAX_PASSES",
        "3",
        "Passes in which one repository failed every attempt before the crawl gives it up "
        "(it is tried again at the next start).",
        "--backfill-repo-max-passes",
    ),
    Variable(
        "BACKFILL_CURSOR_SERVICE", "backfill", "firehose_cursor row of the backfill.", "--backfill-cursor-service"
    ),
    Variable("FIREHOSE_CURSOR_SERVICE", "firehose", "firehose_cursor row of live ingest.", "--firehose-cursor-service"),
    Variable(
        "FIREHOSE_START_CURSOR",
        "",
        "Where live ingest starts when its cursor row does not exist yet "
        "(a seq: it resumes after it; 0 the oldest event the relay keeps; empty: the live tip). Replaying a "
        "capture needs it.",
        "--start-cursor",
    ),
    Variable("HEALTH_PORT", "8081", "Port of /health and /metrics (0 picks a free port).", "--health-port"),
    Variable("HEALTH_HOST", "0.0.0.0", "Address the health server listens on.", "--health-host"),
    Variable(
        "FIREHOSE_RECEIVE_TIMEOUT",
        "30",
        "Seconds without a frame before the connection counts as stalled and is reopened.",
        "--receive-timeout",
    ),
    Variable("FIREHOSE_BATCH_SIZE", "1000", "Most live events committed in one transaction.", "--batch-size"),
    Variable(
        "RELAY_WINDOW_HOURS", "72", "How many hours of history the relay keeps for replay.", "--relay-window-hours"
    ),
    Variable(
        "VERIFY",
        "full",
        "full (signatures, MST proofs against prevData, revision chain), signatures, "
        "or off. Events that fail are counted and never written.",
        "--verify",
    ),
    Variable(
        "PLC_DIRECTORY_URL",
        "https://plc.directory",
        "PLC directory resolving did:plc identities (signing keys, PDS endpoints).",
        "--plc-directory-url",
    ),
    Variable("IDENTITY_CACHE_SIZE", "100000", "Resolved identities kept in memory.", "--identity-cache-size"),
    Variable(
        "IDENTITY_CACHE_SECONDS",
        "3600",
        "How long a resolved identity is kept (an #identity event drops it sooner).",
        "--identity-cache-seconds",
    ),
    Variable(
        "VERIFY_HOLD_LIMIT",
        "10000",
        "Live events held per repository while it is fetched again; past "
        "it they are dropped and the repository is fetched once more.",
        "--verify-hold-limit",
    ),
)

_DEFAULTS = {v.name: v.default for v in VARIABLES}


@dataclasses.dataclass(frozen=True)
class WorkerConfig:
    """A checked worker configuration (see :data:`VARIABLES` for the meaning of each field)."""

    relay_url: str
    database_url: str
    db_pool_size: int = 4
    log_level: str = "info"
    worker_id: int = 0
    backfill_days: int = 0
    backfill_batch_size: int = 5
    backfill_batch_delay_ms: int = 2000
    backfill_max_memory_mb: int = 512
    backfill_cursor_service: str = "backfill"
    backfill_mode: str = "auto"
    backfill_source: str = "relay"
    backfill_concurrency: int = 10
    backfill_pds_rate: float = 2.0
    backfill_global_rate: float = 50.0
    backfill_request_timeout: float = 60.0
    backfill_host_park_seconds: float = 60.0
    backfill_host_max_parks: int = 5
    backfill_repo_max_passes: int = 3
    firehose_cursor_service: str = "firehose"
    health_port: int = 8081
    health_host: str = "0.0.0.0"
    receive_timeout: float = 30.0
    batch_size: int = 1000
    relay_window_hours: float = 72.0
    start_cursor: Optional[int] = None
    verify: str = "full"
    plc_directory_url: str = "https://plc.directory"
    identity_cache_size: int = 100_000
    identity_cache_seconds: float = 3600.0
    verify_hold_limit: int = 10_000
    #: Remarks about accepted-but-odd values (for example ``BACKFILL_DAYS=-5`` acting as 0).
    notes: tuple[str, ...] = ()

    @property
    def backfill_enabled(self) -> bool:
        """Backfill runs on worker 0 only, and only when BACKFILL_DAYS is not 0."""
        return self.worker_id == 0 and self.backfill_days != 0

    @property
    def backfill_crawls(self) -> bool:
        """Whether the backfill fetches repositories (crawl) rather than replaying the relay's window."""
        if self.backfill_mode != "auto":
            return self.backfill_mode == "crawl"
        return self.backfill_days == -1 or self.backfill_days * 24 > self.relay_window_hours

    @property
    def log_level_number(self) -> int:
        """The :mod:`logging` level."""
        return _LOG_LEVELS[self.log_level]

    def describe(self) -> dict[str, object]:
        """The configuration as printable data, secrets masked."""
        out: dict[str, object] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in ("database_url", "relay_url", "health_host"):
                value = mask_text(value)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out


T = TypeVar("T")


def _shown(name: str, raw: str) -> str:
    shown = mask_value(name, raw)
    return shown if shown is not None else ""


def _integer(name: str, raw: str, *, minimum: Optional[int] = None, maximum: Optional[int] = None, hint: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, _shown(name, raw), "not a whole number", hint) from None
    if minimum is not None and value < minimum:
        raise ConfigError(name, _shown(name, raw), f"must be at least {minimum}", hint)
    if maximum is not None and value > maximum:
        raise ConfigError(name, _shown(name, raw), f"must be at most {maximum}", hint)
    return value


def _number(name: str, raw: str, *, minimum: float, hint: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, _shown(name, raw), "not a number", hint) from None
    if not value >= minimum or value == float("inf"):
        raise ConfigError(name, _shown(name, raw), f"must be a finite number of at least {minimum:g}", hint)
    return value


def subscribe_url(raw: str, name: str = "RELAY_URL") -> str:
    """The full ``subscribeRepos`` WebSocket URL for a relay host or URL (see :mod:`supervisor.atproto.endpoints`)."""
    hint = "give a relay host such as wss://bsky.network or a full .../xrpc/com.atproto.sync.subscribeRepos URL"
    try:
        return endpoints.subscribe_url(raw, allow_query=False)
    except ValueError as exc:
        raise ConfigError(name, mask_text(raw) if raw.strip() else raw, str(exc), hint) from None


def mask_database_url(text: str) -> str:
    """DATABASE_URL with its password masked, in URL or keyword (``password=...``) form."""
    return mask_text(text)


def _database_url(raw: str) -> str:
    name = "DATABASE_URL"
    hint = "use postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
    text = raw.strip()
    if not text:
        raise ConfigError(name, None, "is not set", hint)
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme not in ("postgres", "postgresql"):
            raise ConfigError(name, mask_database_url(text), f"scheme {scheme!r} is not postgresql", hint)
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(text)
    except Exception as exc:  # psycopg.ProgrammingError carries libpq's reason
        reason = mask_database_url(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        raise ConfigError(name, mask_database_url(text), f"not a valid connection string ({reason})", hint) from None
    return text


def _service(name: str, raw: str) -> str:
    hint = "use a short name such as 'backfill' or 'backfill_python' (at most 255 characters)"
    if not raw.strip():
        raise ConfigError(name, raw, "is empty", hint)
    if raw != raw.strip():
        raise ConfigError(name, raw, "has surrounding spaces", hint)
    if len(raw) > 255:
        raise ConfigError(name, raw[:40] + "...", "is longer than 255 characters", hint)
    return raw


def parse_config(environ: Mapping[str, str], overrides: Optional[Mapping[str, Optional[str]]] = None) -> WorkerConfig:
    """The checked configuration (see :func:`_parse_config`); a refused value that repeats a secret of
    the environment (``DB_POOL_SIZE=$DB_PASSWORD``) is shown masked."""
    try:
        return _parse_config(environ, overrides)
    except ConfigError as exc:
        given = {**environ, **{k: v for k, v in (overrides or {}).items() if v is not None}}
        secrets = environment_secrets(given)
        if not secrets:
            raise
        raise ConfigError(
            exc.variable,
            None if exc.shown is None else redact_words(exc.shown, secrets),
            redact_words(exc.problem, secrets),
            redact_words(exc.hint, secrets),
        ) from None


def _parse_config(environ: Mapping[str, str], overrides: Optional[Mapping[str, Optional[str]]] = None) -> WorkerConfig:
    """Check every value and build the configuration.

    ``overrides`` (from the command line, keyed by variable name; ``None`` = not given) win over
    ``environ``; missing values take the defaults of :data:`VARIABLES`.  Raises
    :class:`ConfigError` for the first bad value.
    """
    values: dict[str, Optional[str]] = {}
    for var in VARIABLES:
        given = (overrides or {}).get(var.name)
        values[var.name] = given if given is not None else environ.get(var.name, var.default)

    def get(name: str) -> str:
        raw = values[name]
        if raw is None:
            return ""
        return raw

    notes: list[str] = []
    relay = subscribe_url(get("RELAY_URL"))
    database = _database_url(get("DATABASE_URL"))
    pool = _integer(
        "DB_POOL_SIZE",
        get("DB_POOL_SIZE"),
        minimum=1,
        maximum=1000,
        hint="use a whole number of connections, 1 or more (4 is a good start)",
    )
    level = get("LOG_LEVEL").strip().lower()
    if level not in _LOG_LEVELS:
        raise ConfigError(
            "LOG_LEVEL", get("LOG_LEVEL"), "is not a log level", "use debug, info, warning, error or critical"
        )
    if level == "warn":
        level = "warning"
    worker_id = _integer(
        "WORKER_ID", get("WORKER_ID"), hint="use a whole number (0 for the primary worker, which may backfill)"
    )
    days = _integer(
        "BACKFILL_DAYS",
        get("BACKFILL_DAYS"),
        hint="use a whole number of days (0 off, -1 all history, N the last N days)",
    )
    if days < -1:
        notes.append(f"BACKFILL_DAYS={days} is below -1 and acts as 0 (backfill off), as in the original worker")
        days = 0
    batch = _integer(
        "BACKFILL_BATCH_SIZE",
        get("BACKFILL_BATCH_SIZE"),
        minimum=1,
        hint="use a whole number of events per batch, 1 or more",
    )
    delay = _integer(
        "BACKFILL_BATCH_DELAY_MS",
        get("BACKFILL_BATCH_DELAY_MS"),
        minimum=0,
        hint="use a whole number of milliseconds, 0 or more",
    )
    memory = _integer(
        "BACKFILL_MAX_MEMORY_MB",
        get("BACKFILL_MAX_MEMORY_MB"),
        minimum=32,
        hint="use a whole number of megabytes, 32 or more",
    )
    backfill_service = _service("BACKFILL_CURSOR_SERVICE", get("BACKFILL_CURSOR_SERVICE"))
    firehose_service = _service("FIREHOSE_CURSOR_SERVICE", get("FIREHOSE_CURSOR_SERVICE"))
    if backfill_service == firehose_service:
        raise ConfigError(
            "BACKFILL_CURSOR_SERVICE",
            backfill_service,
            "is the same cursor row as FIREHOSE_CURSOR_SERVICE (the two would overwrite each other)",
            "give the backfill and live ingest different names",
        )
    start_text = get("FIREHOSE_START_CURSOR").strip()
    start_cursor = (
        None
        if not start_text
        else _integer(
            "FIREHOSE_START_CURSOR",
            start_text,
            minimum=0,
            hint="use a sequence number (0: the oldest event the relay keeps), or leave it empty for the live tip",
        )
    )
    port = _integer(
        "HEALTH_PORT", get("HEALTH_PORT"), minimum=0, maximum=65535, hint="use a TCP port number (0 picks a free one)"
    )
    host = get("HEALTH_HOST").strip()
    if not host:
        raise ConfigError("HEALTH_HOST", get("HEALTH_HOST"), "is empty", "use 0.0.0.0 or 127.0.0.1")
    if any(c in host for c in "@/ ") or host.count(":") == 1:
        raise ConfigError(
            "HEALTH_HOST",
            mask_text(host),
            "is not an address to listen on (no user, password, port or path)",
            "use 0.0.0.0 or 127.0.0.1, and HEALTH_PORT for the port",
        )
    timeout = _number(
        "FIREHOSE_RECEIVE_TIMEOUT",
        get("FIREHOSE_RECEIVE_TIMEOUT"),
        minimum=0.1,
        hint="use a number of seconds, such as 30",
    )
    live_batch = _integer(
        "FIREHOSE_BATCH_SIZE",
        get("FIREHOSE_BATCH_SIZE"),
        minimum=1,
        maximum=100_000,
        hint="use a whole number of events, such as 1000",
    )
    window = _number(
        "RELAY_WINDOW_HOURS", get("RELAY_WINDOW_HOURS"), minimum=0.0, hint="use a number of hours, such as 72"
    )
    verify = get("VERIFY").strip().lower()
    if verify not in ("full", "signatures", "off"):
        raise ConfigError(
            "VERIFY", get("VERIFY"), "is not a verification level", "use full (the default), signatures or off"
        )
    plc = _http_url("PLC_DIRECTORY_URL", get("PLC_DIRECTORY_URL"))
    cache_size = _integer(
        "IDENTITY_CACHE_SIZE", get("IDENTITY_CACHE_SIZE"), minimum=1, hint="use a whole number of identities, 1 or more"
    )
    cache_seconds = _number(
        "IDENTITY_CACHE_SECONDS",
        get("IDENTITY_CACHE_SECONDS"),
        minimum=0.0,
        hint="use a number of seconds, such as 3600",
    )
    hold = _integer(
        "VERIFY_HOLD_LIMIT", get("VERIFY_HOLD_LIMIT"), minimum=1, hint="use a whole number of events, such as 10000"
    )
    mode = get("BACKFILL_MODE").strip().lower()
    if mode not in ("auto", "replay", "crawl"):
        raise ConfigError("BACKFILL_MODE", get("BACKFILL_MODE"), "is not a backfill mode", "use auto, replay or crawl")
    source = get("BACKFILL_SOURCE").strip().lower()
    if source not in ("relay", "hosts"):
        raise ConfigError("BACKFILL_SOURCE", get("BACKFILL_SOURCE"), "is not a repository source", "use relay or hosts")
    concurrency = _integer(
        "BACKFILL_CONCURRENCY",
        get("BACKFILL_CONCURRENCY"),
        minimum=1,
        maximum=1000,
        hint="use a whole number of repositories, such as 10",
    )
    pds_rate = _number(
        "BACKFILL_PDS_RATE", get("BACKFILL_PDS_RATE"), minimum=0.01, hint="use requests per second, such as 2"
    )
    global_rate = _number(
        "BACKFILL_GLOBAL_RATE", get("BACKFILL_GLOBAL_RATE"), minimum=0.01, hint="use requests per second, such as 50"
    )
    request_timeout = _number(
        "BACKFILL_REQUEST_TIMEOUT", get("BACKFILL_REQUEST_TIMEOUT"), minimum=0.1, hint="use seconds, such as 60"
    )
    park_seconds = _number(
        "BACKFILL_HOST_PARK_SECONDS", get("BACKFILL_HOST_PARK_SECONDS"), minimum=0.1, hint="use seconds, such as 60"
    )
    max_parks = _integer(
        "BACKFILL_HOST_MAX_PARKS",
        get("BACKFILL_HOST_MAX_PARKS"),
        minimum=0,
        maximum=1000,
        hint="use a whole number of times, such as 5 (0: give a host up at its first park)",
    )
    max_passes = _integer(
        "BACKFILL_REPO_MAX_PASSES",
        get("BACKFILL_REPO_MAX_PASSES"),
        minimum=1,
        maximum=1000,
        hint="use a whole number of passes, such as 3",
    )
    return WorkerConfig(
        backfill_host_park_seconds=park_seconds,
        backfill_host_max_parks=max_parks,
        backfill_repo_max_passes=max_passes,
        backfill_mode=mode,
        backfill_source=source,
        backfill_concurrency=concurrency,
        backfill_pds_rate=pds_rate,
        backfill_global_rate=global_rate,
        backfill_request_timeout=request_timeout,
        relay_url=relay,
        database_url=database,
        db_pool_size=pool,
        log_level=level,
        worker_id=worker_id,
        backfill_days=days,
        backfill_batch_size=batch,
        backfill_batch_delay_ms=delay,
        backfill_max_memory_mb=memory,
        backfill_cursor_service=backfill_service,
        firehose_cursor_service=firehose_service,
        health_port=port,
        health_host=host,
        receive_timeout=timeout,
        batch_size=live_batch,
        relay_window_hours=window,
        start_cursor=start_cursor,
        verify=verify,
        plc_directory_url=plc,
        identity_cache_size=cache_size,
        identity_cache_seconds=cache_seconds,
        verify_hold_limit=hold,
        notes=tuple(notes),
    )


def _http_url(name: str, raw: str) -> str:
    import urllib.parse

    text = raw.strip()
    hint = "use an http(s) URL such as https://plc.directory"
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ConfigError(name, mask_text(text), "is not a URL", hint) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(name, mask_text(text), "is not an http(s) URL of a host", hint)
    return text.rstrip("/")
