"""Hypothesis settings of the fuzz suites.

- ``CI=true``: derandomised (the same examples on every run, no example database), no shrinking;
- ``FUZZ_EXAMPLES=N``: examples per property (default 150; the CI run uses the default);
- ``FUZZ_RANDOM=1``: random examples even under CI (a wider, exploratory run).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

_CI = os.environ.get("CI", "").lower() == "true"
_DERANDOMIZE = _CI and os.environ.get("FUZZ_RANDOM", "") not in ("1", "true")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))


def fuzz_settings(examples: int = EXAMPLES) -> settings:
    phases = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target] + ([] if _CI else [Phase.shrink])
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=_DERANDOMIZE,
        database=None if _DERANDOMIZE else settings.default.database,
        phases=phases,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
    )
