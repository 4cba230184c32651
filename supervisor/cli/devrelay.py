"""``supervisor devrelay``: a local relay serving a synthetic network or a capture file."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

import click

from supervisor.cli.base import EXIT_USAGE, fail, main

if TYPE_CHECKING:
    from supervisor.devrelay.server import DevRelay, RelayConfig

__all__ = ["devrelay_command", "parse_now", "DevRelaySettings", "Option", "OPTIONS"]


def parse_now(text: Optional[str]) -> int:
    """Epoch microseconds for ``--now`` (an RFC 3339 datetime, or epoch seconds); default: the clock."""
    from supervisor.devrelay.events import parse_time

    if text is None:
        return int(time.time()) * 1_000_000
    try:
        return int(float(text) * 1_000_000)
    except ValueError:
        pass
    except OverflowError:
        raise click.BadParameter(
            f"{text!r} is not a usable time; give an RFC 3339 datetime such as 2025-01-01T00:00:00Z", param_hint="--now"
        ) from None
    try:
        return parse_time(text.replace(" ", "T", 1))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither an RFC 3339 datetime with a timezone nor epoch seconds", param_hint="--now"
        ) from None


_PATH = click.Path(dir_okay=False)
_COUNT = click.IntRange(min=0)
_PORT = click.IntRange(0, 65535)
_AMOUNT = click.FloatRange(min=0)


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of ``supervisor devrelay`` and where its value goes.

    ``field`` is ``SECTION.NAME``: a field of :class:`SynthConfig` (``synth``), :class:`Faults`
    (``faults``), :class:`HostSettings` (``hosts``) or :class:`RelayConfig` (``relay``), or
    ``serve.host`` / ``serve.port`` (where the relay listens). ``type`` is a click type, or
    ``bool`` for an on/off flag; ``multiple`` makes it repeatable (a tuple). ``convert`` turns the
    option's value into the field's. ``synthetic_only``: refused with ``--capture``.
    """

    flag: str
    field: str
    type: Any
    default: Any
    help: str
    metavar: Optional[str] = None
    multiple: bool = False
    convert: Optional[Callable[[Any], Any]] = None
    synthetic_only: bool = False

    @property
    def name(self) -> str:
        """The option's parameter name (``--drop-every``: ``drop_every``)."""
        return self.flag[2:].replace("-", "_")

    def decorator(self) -> Callable[[Any], Any]:
        """The ``click.option`` of this row."""
        extra: dict[str, Any] = {}
        if self.metavar is not None:
            extra["metavar"] = self.metavar
        if self.type is bool:
            return click.option(self.flag, self.name, is_flag=True, help=self.help, **extra)
        if self.multiple:
            return click.option(self.flag, self.name, multiple=True, type=self.type, help=self.help, **extra)
        return click.option(
            self.flag,
            self.name,
            default=self.default,
            show_default=self.default is not None,
            type=self.type,
            help=self.help,
            **extra,
        )


def _not(value: bool) -> bool:
    return not value


#: Every option, in ``--help`` order: adding an option is adding a row.
OPTIONS: tuple[Option, ...] = (
    Option("--host", "serve.host", str, "127.0.0.1", "Address to listen on."),
    Option("--port", "serve.port", _PORT, 0, "Port to listen on (0 picks a free one)."),
    Option("--seed", "synth.seed", int, 0, "Seed of the synthetic network."),
    Option("--accounts", "synth.accounts", click.IntRange(min=1), 100, "Accounts in the synthetic network."),
    Option("--events", "synth.events", _COUNT, 10_000, "History events generated before the relay listens."),
    Option(
        "--days",
        "synth.days",
        click.FloatRange(min=0, min_open=True),
        7.0,
        "Days of history the events are spread over, ending at --now.",
    ),
    Option(
        "--now",
        "synth.now_us",
        str,
        None,
        "End of the history (RFC 3339 or epoch seconds; default: the current time). Fix it for byte-identical runs.",
        metavar="DATETIME",
        convert=parse_now,
    ),
    Option(
        "--retention-hours",
        "relay.retention_hours",
        click.FloatRange(min=0, min_open=True),
        72.0,
        "Replay window, in hours of event time; older cursors get OutdatedCursor.",
    ),
    Option(
        "--rate",
        "relay.rate",
        _AMOUNT,
        0.0,
        "Live events per second after the history (0: as fast as consumers read).",
    ),
    Option(
        "--live-events",
        "synth.live_events",
        _COUNT,
        0,
        "Live events emitted after the history; then the relay idles.",
    ),
    Option(
        "--capture", "relay.capture", _PATH, None, "Serve this capture file instead of a synthetic network.", "FILE"
    ),
    Option(
        "--truth",
        "relay.truth",
        _PATH,
        None,
        "Write the final records (history + live) as JSON lines sorted by URI.",
        "FILE",
    ),
    Option(
        "--truth-accounts",
        "relay.truth_accounts",
        _PATH,
        None,
        "Write the final accounts (did, handle, active, status) as JSON lines.",
        "FILE",
    ),
    Option(
        "--write-capture",
        "relay.write_capture",
        _PATH,
        None,
        "Write every event (history + live) as a capture file.",
        "FILE",
    ),
    Option("--drop-every", "faults.drop_every", _COUNT, 0, "Drop each connection after this many events (0: never)."),
    Option(
        "--stall-every",
        "faults.stall_every",
        _COUNT,
        0,
        "Stall each connection after every this many events (0: never).",
    ),
    Option("--stall-seconds", "faults.stall_seconds", _AMOUNT, 0.0, "How long each stall lasts."),
    Option(
        "--malformed-every",
        "faults.malformed_every",
        _COUNT,
        0,
        "Send a malformed frame after every this many events (0: never).",
    ),
    Option(
        "--unsigned",
        "synth.sign",
        bool,
        False,
        "Placeholder signatures and no sync 1.1 proofs (cheaper; a verifying consumer refuses them).",
        convert=_not,
    ),
    Option(
        "--key-rotations",
        "synth.key_rotations",
        _AMOUNT,
        0.0,
        "Relative frequency of signing key rotations (#identity events; likes are 45).",
    ),
    Option(
        "--forge-every",
        "faults.forge_every",
        _COUNT,
        0,
        "Send the commit of every seq that is a multiple of this signed by another key.",
    ),
    Option("--bad-prev-data-every", "faults.bad_prev_data_every", _COUNT, 0, "... with a wrong prevData."),
    Option("--missing-block-every", "faults.missing_block_every", _COUNT, 0, "... without one of its MST nodes."),
    Option("--skip-every", "faults.skip_every", _COUNT, 0, "... not at all (the repository's chain breaks)."),
    Option("--sync-every", "faults.sync_every", _COUNT, 0, "... as a #sync of the same signed commit."),
    Option(
        "--buffer",
        "relay.buffer",
        click.IntRange(min=1),
        10_000,
        "Live events a connection may fall behind before ConsumerTooSlow.",
    ),
    Option(
        "--send-buffer",
        "relay.send_buffer",
        _COUNT,
        0,
        "Fix each subscriber socket's kernel send buffer (0: the kernel's default, which grows "
        "to megabytes and hides a slow consumer from the backlog).",
        "BYTES",
    ),
    Option(
        "--pds-hosts",
        "hosts.count",
        _COUNT,
        0,
        "Host the accounts on N PDS hosts, each an HTTP server on its own port (0: the relay alone).",
        "N",
    ),
    Option(
        "--hosts-port",
        "hosts.port",
        _PORT,
        0,
        "Port of the first PDS host, the others following (0: free ports).",
        "PORT",
    ),
    Option(
        "--hosts-out",
        "hosts.out",
        _PATH,
        None,
        'Write the PDS hosts as JSON: [{"hostname", "url", "accounts"}].',
        "FILE",
    ),
    Option(
        "--did-web-every",
        "synth.did_web_every",
        _COUNT,
        0,
        "Make every K-th account did:web (did:web:127.0.0.1%3APORT), each on a PDS host of its own.",
        "K",
        synthetic_only=True,
    ),
    Option(
        "--host-rate",
        "hosts.rate",
        _AMOUNT,
        0.0,
        "Requests per second each PDS host allows; over it: 429 with RateLimit-* and Retry-After (0: no limit).",
        "R",
    ),
    Option(
        "--failing-host",
        "hosts.failing",
        click.IntRange(min=1),
        (),
        "PDS host I (1-based, --hosts-out order) answers 500 or drops the connection for --host-fault-seconds.",
        "I",
        multiple=True,
    ),
    Option(
        "--stalling-host",
        "hosts.stalling",
        click.IntRange(min=1),
        (),
        "PDS host I accepts requests and sends nothing for --host-fault-seconds.",
        "I",
        multiple=True,
    ),
    Option(
        "--vanishing-host",
        "hosts.vanishing",
        click.IntRange(min=1),
        (),
        "PDS host I stops listening, for good, --host-fault-seconds after it starts.",
        "I",
        multiple=True,
    ),
    Option(
        "--corrupting-host",
        "hosts.corrupting",
        click.IntRange(min=1),
        (),
        "PDS host I serves every repository (getRepo) with one block changed, so its CID no longer matches.",
        "I",
        multiple=True,
    ),
    Option(
        "--host-fault-seconds",
        "hosts.fault_seconds",
        click.FloatRange(min=0, min_open=True),
        10.0,
        "How long failing and stalling hosts misbehave, and when vanishing ones go.",
    ),
    Option(
        "--takedown-every",
        "synth.takedown_every",
        _COUNT,
        0,
        "Every K-th account ends taken down (getRepo: RepoTakendown).",
        "K",
        synthetic_only=True,
    ),
    Option(
        "--deactivate-every",
        "synth.deactivate_every",
        _COUNT,
        0,
        "Every K-th account ends deactivated (getRepo: RepoDeactivated).",
        "K",
        synthetic_only=True,
    ),
    Option(
        "--delete-every",
        "synth.delete_every",
        _COUNT,
        0,
        "Every K-th account ends deleted (getRepo: RepoNotFound).",
        "K",
        synthetic_only=True,
    ),
    Option(
        "--large-repo-records",
        "synth.large_repo_records",
        _COUNT,
        0,
        "Add one account whose repository holds N records from the first half of the history.",
        "N",
        synthetic_only=True,
    ),
)


def _with_options(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(OPTIONS):
        command = option.decorator()(command)
    return command


@main.command("devrelay", short_help="A local relay for tests and the offline stack.")
@_with_options
def devrelay_command(**options: Any) -> None:
    """Run a development relay: com.atproto.sync.subscribeRepos, listRepos, listHosts, getRepo,
    and the accounts' DID documents at /{did} (a PLC directory: PLC_DIRECTORY_URL=http://HOST:PORT);
    with --pds-hosts, PDS hosts serving the repositories on ports of their own.

    Prints "listening on ws://HOST:PORT" once ready; stops cleanly on SIGTERM or SIGINT.

    Exit 0 stopped by a signal; 2 unusable options, an unreadable or malformed capture file
    (named with the frame number and byte offset), or a port already in use.
    """
    from supervisor.devrelay.errors import DevRelayError
    from supervisor.devrelay.server import DevRelay

    settings = DevRelaySettings.from_options(options)
    # Until the event loop takes over, a stop request during preparation still exits cleanly.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_now)
    try:
        relay = DevRelay(settings.relay_config())
        relay.prepare()
    except DevRelayError as exc:
        fail(f"error: {exc}", EXIT_USAGE)
    except OSError as exc:
        fail(f"error: {exc.filename or ''}: {exc.strerror or exc}", EXIT_USAGE)
    try:
        asyncio.run(_serve(relay, settings.host, settings.port))
    except OSError as exc:
        fail(f"error: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}", EXIT_USAGE)


@dataclasses.dataclass(frozen=True)
class DevRelaySettings:
    """The options of ``supervisor devrelay`` by section (see :class:`Option`): ``given`` holds the
    values as parsed, ``sections`` the fields they set (``{"synth": {"seed": 1, ...}, ...}``)."""

    given: Mapping[str, Any]
    sections: Mapping[str, Mapping[str, Any]]

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "DevRelaySettings":
        """Settings from the parsed options (parameter names as keys; missing ones: their default)."""
        sections: dict[str, dict[str, Any]] = {"serve": {}, "synth": {}, "relay": {}, "faults": {}, "hosts": {}}
        for option in OPTIONS:
            value = options.get(option.name, option.default)
            if option.multiple:
                value = tuple(value)
            section, name = option.field.split(".", 1)
            sections[section][name] = option.convert(value) if option.convert is not None else value
        return cls(given=dict(options), sections=sections)

    @property
    def host(self) -> str:
        return str(self.sections["serve"]["host"])

    @property
    def port(self) -> int:
        return int(self.sections["serve"]["port"])

    def relay_config(self) -> "RelayConfig":
        """The relay these options describe (ConfigError, from the relay, for unusable ones)."""
        from supervisor.devrelay.faults import Faults
        from supervisor.devrelay.hosts import HostSettings
        from supervisor.devrelay.server import RelayConfig
        from supervisor.devrelay.synth import SynthConfig

        relay = dict(self.sections["relay"])
        synth = None
        if relay["capture"] is None:
            synth = SynthConfig(**self.sections["synth"], live_step_us=_live_step_us(relay["rate"]))
        else:
            for option in OPTIONS:
                if option.synthetic_only and self.given.get(option.name, option.default) != option.default:
                    raise click.UsageError(f"{option.flag} needs a synthetic network, not --capture")
        return RelayConfig(
            synth=synth,
            faults=Faults(**self.sections["faults"]),
            hosts=HostSettings(address=self.host, **self.sections["hosts"]),
            **relay,
        )


def _live_step_us(rate: float) -> int:
    """Event-time spacing of live events: 1/rate seconds (1 ms when unthrottled)."""
    if not 0 < rate < float("inf"):
        return 1_000
    return max(1, min(int(1_000_000 / rate), 2**53))


def _exit_now(signum: int, frame: object) -> None:
    raise SystemExit(0)


async def _serve(relay: "DevRelay", host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("devrelay: %(message)s"))
    relay_logger = logging.getLogger("supervisor.devrelay")
    relay_logger.addHandler(handler)
    relay_logger.setLevel(logging.INFO)
    relay_logger.propagate = False
    await relay.start(host, port)
    log = relay.log
    click.echo(
        f"devrelay: {log.appended} events sequenced (latest seq {log.latest_seq}), {len(log)} in the replay window "
        f"(seq {log.oldest_seq}..{log.latest_seq}), {relay.live_total} live to come; "
        f"prepared in {relay.prepare_seconds:.1f}s",
        err=True,
    )
    for pds in relay.hosts:
        click.echo(f"devrelay: PDS host {pds.number} on {pds.url} ({len(pds.dids)} accounts)", err=True)
    click.echo(f"listening on {relay.url}")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await relay.stop()
