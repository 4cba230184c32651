"""The unified worker: relay firehose into PostgreSQL, exactly once, and a backfill that finishes.

Modules, one concept each: :mod:`~supervisor.worker.config` (variables -> checked configuration),
:mod:`~supervisor.worker.batch` (decoded events -> write batches, pure),
:mod:`~supervisor.worker.schema` (migrations), :mod:`~supervisor.worker.store` (the batch
transaction), :mod:`~supervisor.worker.stream` (reader -> decoder -> writer for one subscription),
:mod:`~supervisor.worker.backfill`, :mod:`~supervisor.worker.health`,
:mod:`~supervisor.worker.metrics` and :mod:`~supervisor.worker.app` (the process).
"""

from supervisor.worker.config import WorkerConfig, parse_config
from supervisor.worker.errors import ConfigError, MigrationError, RelayError, StoreError, WorkerError

__all__ = [
    "WorkerConfig",
    "parse_config",
    "WorkerError",
    "ConfigError",
    "StoreError",
    "MigrationError",
    "RelayError",
]
