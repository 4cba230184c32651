"""``supervisor devrelay``: a local relay serving a synthetic network or a capture file."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, Optional

import click

from supervisor.cli.base import EXIT_USAGE, fail, main

if TYPE_CHECKING:
    from supervisor.devrelay.server import DevRelay, RelayConfig

__all__ = ["devrelay_command", "parse_now", "DevRelaySettings"]


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


@main.command("devrelay", short_help="A local relay for tests and the offline stack.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0 picks a free one).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the synthetic network.")
@click.option(
    "--accounts", default=100, show_default=True, type=click.IntRange(min=1), help="Accounts in the synthetic network."
)
@click.option(
    "--events",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=0),
    help="History events generated before the relay listens.",
)
@click.option(
    "--days",
    default=7.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Days of history the events are spread over, ending at --now.",
)
@click.option(
    "--now",
    "now_text",
    default=None,
    metavar="DATETIME",
    help="End of the history (RFC 3339 or epoch seconds; default: the current time). Fix it for byte-identical runs.",
)
@click.option(
    "--retention-hours",
    default=72.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Replay window, in hours of event time; older cursors get OutdatedCursor.",
)
@click.option(
    "--rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Live events per second after the history (0: as fast as consumers read).",
)
@click.option(
    "--live-events",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Live events emitted after the history; then the relay idles.",
)
@click.option(
    "--capture",
    "capture_path",
    default=None,
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Serve this capture file instead of a synthetic network.",
)
@click.option(
    "--truth",
    default=None,
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Write the final records (history + live) as JSON lines sorted by URI.",
)
@click.option(
    "--truth-accounts",
    default=None,
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Write the final accounts (did, handle, active, status) as JSON lines.",
)
@click.option(
    "--write-capture",
    default=None,
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Write every event (history + live) as a capture file.",
)
@click.option(
    "--drop-every",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Drop each connection after this many events (0: never).",
)
@click.option(
    "--stall-every",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Stall each connection after every this many events (0: never).",
)
@click.option(
    "--stall-seconds", default=0.0, show_default=True, type=click.FloatRange(min=0), help="How long each stall lasts."
)
@click.option(
    "--malformed-every",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Send a malformed frame after every this many events (0: never).",
)
@click.option(
    "--unsigned",
    is_flag=True,
    help="Placeholder signatures and no sync 1.1 proofs (cheaper; a verifying consumer refuses them).",
)
@click.option(
    "--key-rotations",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Relative frequency of signing key rotations (#identity events; likes are 45).",
)
@click.option(
    "--forge-every",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Send the commit of every seq that is a multiple of this signed by another key.",
)
@click.option(
    "--bad-prev-data-every", default=0, show_default=True, type=click.IntRange(min=0), help="... with a wrong prevData."
)
@click.option(
    "--missing-block-every",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="... without one of its MST nodes.",
)
@click.option(
    "--skip-every",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="... not at all (the repository's chain breaks).",
)
@click.option(
    "--sync-every",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="... as a #sync of the same signed commit.",
)
@click.option(
    "--buffer",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Live events a connection may fall behind before ConsumerTooSlow.",
)
@click.option(
    "--send-buffer",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="BYTES",
    help="Fix each subscriber socket's kernel send buffer (0: the kernel's default, which grows "
    "to megabytes and hides a slow consumer from the backlog).",
)
@click.option(
    "--pds-hosts",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="N",
    help="Host the accounts on N PDS hosts, each an HTTP server on its own port (0: the relay alone).",
)
@click.option(
    "--hosts-port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Port of the first PDS host, the others following (0: free ports).",
)
@click.option(
    "--hosts-out",
    default=None,
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help='Write the PDS hosts as JSON: [{"hostname", "url", "accounts"}].',
)
@click.option(
    "--did-web-every",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="K",
    help="Make every K-th account did:web (did:web:127.0.0.1%3APORT), each on a PDS host of its own.",
)
@click.option(
    "--host-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    metavar="R",
    help="Requests per second each PDS host allows; over it: 429 with RateLimit-* and Retry-After (0: no limit).",
)
@click.option(
    "--failing-host",
    multiple=True,
    type=click.IntRange(min=1),
    metavar="I",
    help="PDS host I (1-based, --hosts-out order) answers 500 or drops the connection for --host-fault-seconds.",
)
@click.option(
    "--stalling-host",
    multiple=True,
    type=click.IntRange(min=1),
    metavar="I",
    help="PDS host I accepts requests and sends nothing for --host-fault-seconds.",
)
@click.option(
    "--vanishing-host",
    multiple=True,
    type=click.IntRange(min=1),
    metavar="I",
    help="PDS host I stops listening, for good, --host-fault-seconds after it starts.",
)
@click.option(
    "--host-fault-seconds",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="How long failing and stalling hosts misbehave, and when vanishing ones go.",
)
@click.option(
    "--takedown-every",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="K",
    help="Every K-th account ends taken down (getRepo: RepoTakendown).",
)
@click.option(
    "--deactivate-every",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="K",
    help="Every K-th account ends deactivated (getRepo: RepoDeactivated).",
)
@click.option(
    "--delete-every",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="K",
    help="Every K-th account ends deleted (getRepo: RepoNotFound).",
)
@click.option(
    "--large-repo-records",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="N",
    help="Add one account whose repository holds N records from the first half of the history.",
)
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

    settings = DevRelaySettings(**options)
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
    """The options of ``supervisor devrelay``, one field each (the names of the options)."""

    host: str
    port: int
    seed: int
    accounts: int
    events: int
    days: float
    now_text: Optional[str]
    retention_hours: float
    rate: float
    live_events: int
    capture_path: Optional[str]
    truth: Optional[str]
    truth_accounts: Optional[str]
    write_capture: Optional[str]
    drop_every: int
    stall_every: int
    stall_seconds: float
    malformed_every: int
    unsigned: bool
    key_rotations: float
    forge_every: int
    bad_prev_data_every: int
    missing_block_every: int
    skip_every: int
    sync_every: int
    buffer: int
    send_buffer: int
    pds_hosts: int
    hosts_port: int
    hosts_out: Optional[str]
    did_web_every: int
    host_rate: float
    failing_host: tuple[int, ...]
    stalling_host: tuple[int, ...]
    vanishing_host: tuple[int, ...]
    host_fault_seconds: float
    takedown_every: int
    deactivate_every: int
    delete_every: int
    large_repo_records: int

    def relay_config(self) -> "RelayConfig":
        """The relay these options describe (ConfigError, from the relay, for unusable ones)."""
        from supervisor.devrelay.faults import Faults
        from supervisor.devrelay.hosts import HostSettings
        from supervisor.devrelay.server import RelayConfig
        from supervisor.devrelay.synth import SynthConfig

        synth = None
        if self.capture_path is None:
            synth = SynthConfig(
                seed=self.seed,
                accounts=self.accounts,
                events=self.events,
                days=self.days,
                now_us=parse_now(self.now_text),
                live_events=self.live_events,
                live_step_us=_live_step_us(self.rate),
                sign=not self.unsigned,
                key_rotations=self.key_rotations,
                did_web_every=self.did_web_every,
                takedown_every=self.takedown_every,
                deactivate_every=self.deactivate_every,
                delete_every=self.delete_every,
                large_repo_records=self.large_repo_records,
            )
        elif self.did_web_every or self.takedown_every or self.deactivate_every or self.delete_every:
            raise click.UsageError("did-web-every and the account states need a synthetic network, not --capture")
        elif self.large_repo_records:
            raise click.UsageError("--large-repo-records needs a synthetic network, not --capture")
        return RelayConfig(
            synth=synth,
            capture=self.capture_path,
            retention_hours=self.retention_hours,
            rate=self.rate,
            buffer=self.buffer,
            send_buffer=self.send_buffer,
            faults=Faults(
                drop_every=self.drop_every,
                stall_every=self.stall_every,
                stall_seconds=self.stall_seconds,
                malformed_every=self.malformed_every,
                forge_every=self.forge_every,
                bad_prev_data_every=self.bad_prev_data_every,
                missing_block_every=self.missing_block_every,
                skip_every=self.skip_every,
                sync_every=self.sync_every,
            ),
            truth=self.truth,
            truth_accounts=self.truth_accounts,
            write_capture=self.write_capture,
            hosts=HostSettings(
                count=self.pds_hosts,
                address=self.host,
                port=self.hosts_port,
                rate=self.host_rate,
                failing=tuple(self.failing_host),
                stalling=tuple(self.stalling_host),
                vanishing=tuple(self.vanishing_host),
                fault_seconds=self.host_fault_seconds,
                out=self.hosts_out,
            ),
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
