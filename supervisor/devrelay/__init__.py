"""A spec-conformant development relay for tests, benchmarks and the offline stack.

Serves ``com.atproto.sync.subscribeRepos`` (cursor replay, retention window, live emission,
slow-consumer handling, fault injection) and the sync XRPC routes (``listRepos``,
``listHosts``, ``getRepo``...) from a deterministic synthetic network or from a capture file,
optionally with PDS hosts of its own (:class:`HostSettings`) serving the repositories.

    relay = DevRelay(RelayConfig(synth=SynthConfig(seed=1, events=5000)))
    await relay.start()          # relay.subscribe_url, relay.http_url
    ...
    await relay.stop()
"""

from supervisor.devrelay.errors import CaptureFileError, ConfigError, DevRelayError, XrpcError
from supervisor.devrelay.events import Event
from supervisor.devrelay.faults import Faults
from supervisor.devrelay.hosts import HostSettings
from supervisor.devrelay.network import NetworkState
from supervisor.devrelay.server import DevRelay, RelayConfig, write_truth, write_truth_accounts
from supervisor.devrelay.synth import SynthConfig, SyntheticNetwork
from supervisor.devrelay.truth import expected_records

__all__ = [
    "DevRelay",
    "RelayConfig",
    "SynthConfig",
    "SyntheticNetwork",
    "Faults",
    "HostSettings",
    "expected_records",
    "Event",
    "NetworkState",
    "write_truth",
    "write_truth_accounts",
    "DevRelayError",
    "ConfigError",
    "CaptureFileError",
    "XrpcError",
]
