"""``supervisor devrelay``: a local relay serving a synthetic network or a capture file."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from typing import TYPE_CHECKING, Optional

import click

from supervisor.cli.base import EXIT_USAGE, fail, main

if TYPE_CHECKING:
    from supervisor.devrelay.server import DevRelay

__all__ = ["devrelay_command", "parse_now"]


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
def devrelay_command(
    host: str,
    port: int,
    seed: int,
    accounts: int,
    events: int,
    days: float,
    now_text: Optional[str],
    retention_hours: float,
    rate: float,
    live_events: int,
    capture_path: Optional[str],
    truth: Optional[str],
    truth_accounts: Optional[str],
    write_capture: Optional[str],
    drop_every: int,
    stall_every: int,
    stall_seconds: float,
    malformed_every: int,
    unsigned: bool,
    key_rotations: float,
    forge_every: int,
    bad_prev_data_every: int,
    missing_block_every: int,
    skip_every: int,
    sync_every: int,
    buffer: int,
    send_buffer: int,
) -> None:
    """Run a development relay: com.atproto.sync.subscribeRepos, listRepos, getRepo, and the
    accounts' DID documents at /{did} (a PLC directory: PLC_DIRECTORY_URL=http://HOST:PORT).

    Prints "listening on ws://HOST:PORT" once ready; stops cleanly on SIGTERM or SIGINT.

    Exit 0 stopped by a signal; 2 unusable options, an unreadable or malformed capture file
    (named with the frame number and byte offset), or a port already in use.
    """
    from supervisor.devrelay.errors import DevRelayError
    from supervisor.devrelay.faults import Faults
    from supervisor.devrelay.server import DevRelay, RelayConfig
    from supervisor.devrelay.synth import SynthConfig

    # Until the event loop takes over, a stop request during preparation still exits cleanly.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_now)
    try:
        synth = None
        if capture_path is None:
            synth = SynthConfig(
                seed=seed,
                accounts=accounts,
                events=events,
                days=days,
                now_us=parse_now(now_text),
                live_events=live_events,
                live_step_us=_live_step_us(rate),
                sign=not unsigned,
                key_rotations=key_rotations,
            )
        config = RelayConfig(
            synth=synth,
            capture=capture_path,
            retention_hours=retention_hours,
            rate=rate,
            buffer=buffer,
            send_buffer=send_buffer,
            faults=Faults(
                drop_every=drop_every,
                stall_every=stall_every,
                stall_seconds=stall_seconds,
                malformed_every=malformed_every,
                forge_every=forge_every,
                bad_prev_data_every=bad_prev_data_every,
                missing_block_every=missing_block_every,
                skip_every=skip_every,
                sync_every=sync_every,
            ),
            truth=truth,
            truth_accounts=truth_accounts,
            write_capture=write_capture,
        )
        relay = DevRelay(config)
        relay.prepare()
    except DevRelayError as exc:
        fail(f"error: {exc}", EXIT_USAGE)
    except OSError as exc:
        fail(f"error: {exc.filename or ''}: {exc.strerror or exc}", EXIT_USAGE)
    try:
        asyncio.run(_serve(relay, host, port))
    except OSError as exc:
        fail(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", EXIT_USAGE)


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
        f"(seq {log.oldest_seq}..{log.latest_seq}), {len(relay.live)} live to come; "
        f"prepared in {relay.prepare_seconds:.1f}s",
        err=True,
    )
    click.echo(f"listening on {relay.url}")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await relay.stop()
