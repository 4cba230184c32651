"""Run census cases through the real compose binary and ``supervisor config -q``, side by side.

``supervisor validate`` (text, or ``--format json``) can be run instead of our ``config -q``
(:data:`COMMANDS`): its findings go to stdout, which is then kept, and every error finding of an
exit-2 run must name the file and its ``line:col``.

Compose runs as a child process (``config -q``) with a timeout and a 2 GB address-space limit.
Ours runs in a child forked from a small server that has imported the command line once
(``python -m tests.fuzz.census_run --serve``): each case is a fresh process, so its exit code, its
stderr, its time and its peak resident set (``wait4``) are its own, without paying the start-up of
the interpreter 3,800 times.  Both children read the same project folder at the same time.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Iterator, Optional, Sequence

from .census import Case, materialize

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TIMEOUT = 10.0
#: a FIFO without a writer is refused after FIFO_WAIT_SECONDS (10 s); more than that is a hang
OURS_TIMEOUT = 20.0
MEMORY_LIMIT = 2 << 30
NOBODY = 65534

#: what a located message starts with: FILE:LINE:COL
LOCATED = re.compile(r"^(error: )?(\S[^:\n]*):(\d+):(\d+): ")
#: our command per census mode (compose always runs ``config -q``)
COMMANDS: dict[str, tuple[str, ...]] = {
    "config": ("config", "-q"),
    "validate": ("validate",),
    "validate-json": ("validate", "--format", "json"),
}
#: a finding line of ``validate``'s text output: ``[FILE:LINE:COL: ]error CODE name: message``
_FINDING = re.compile(r"^(?:(\S[^:\n]*?)(?::(\d+)(?::(\d+))?)?: )?error SV\d+ ")
_INTERNAL = re.compile(r"Traceback|unexpected [A-Za-z.]*(Error|Exception|Interrupt|Exit)\b")


@dataclasses.dataclass
class Side:
    code: int
    stderr: str
    seconds: float
    rss_mb: float
    timed_out: bool = False
    signal: int = 0
    stdout: str = ""


@dataclasses.dataclass
class Result:
    case: Case
    compose: Side
    ours: Side
    mode: str = "config"

    @property
    def compose_fails_badly(self) -> bool:
        """Compose panicked, hung, ran out of memory or was killed."""
        c = self.compose
        return c.timed_out or c.signal != 0 or "panic:" in c.stderr or "fatal error:" in c.stderr

    @property
    def compose_too_slow(self) -> bool:
        """Compose ran past its timeout on an ordinary file: its answer is unknown, either is taken."""
        return self.compose.timed_out and self.case.category != "special files"

    @property
    def refused(self) -> bool:
        """We refused the input (``validate`` exits 1 on findings, 2 on unusable input)."""
        return self.ours.code == 2 if self.mode != "config" else self.ours.code != 0

    @property
    def agree(self) -> bool:
        if self.compose_too_slow:
            return self.ours.code in self._codes and not self.ours.timed_out
        if self.compose_fails_badly:
            return self.ours.code == 2
        return (self.compose.code == 0) != self.refused

    @property
    def _codes(self) -> tuple[int, ...]:
        return (0, 2) if self.mode == "config" else (0, 1, 2)

    @property
    def internal_error(self) -> bool:
        text = self.ours.stderr + self.ours.stdout
        return bool(_INTERNAL.search(text)) or self.ours.code not in self._codes or self.ours.timed_out

    @property
    def message(self) -> str:
        """What we said: stderr, and for ``validate`` the error findings of stdout first."""
        return "\n".join(filter(None, [*self.messages(), self.ours.stderr.strip()]))

    def messages(self) -> list[str]:
        """Each error finding of ``validate`` (text or JSON) as ``[file:line:col: ]message``."""
        out = self.ours.stdout
        if self.mode == "validate":
            return [line for line in out.splitlines() if _FINDING.match(line)]
        if self.mode == "validate-json" and out.strip():
            try:
                findings = json.loads(out).get("findings", [])
            except (ValueError, AttributeError):
                return [out[:300]]
            lines = []
            for f in findings:
                if f.get("severity") != "error":
                    continue
                loc = f.get("location") or {}
                where = ":".join(str(part) for part in (loc.get("file"), loc.get("line"), loc.get("column")) if part)
                lines.append(f"{where}: {f.get('message')}" if where else str(f.get("message")))
            return lines
        return []

    def _said(self) -> list[str]:
        found = self.messages()
        if self.ours.stderr.strip() or not found:
            found.append(self.ours.stderr)
        return found

    def names_file(self) -> bool:
        names = {name for name, _ in self.case.files} | {name for name, _ in self.case.specials}
        names |= {arg for arg in self.case.args if not arg.startswith("-")}
        names |= {"/dev/", "/proc/", "compose.yaml", ".env"}
        return all(LOCATED.match(err) or any(name and name in err for name in names) for err in self._said())

    def located(self) -> bool:
        return all(LOCATED.match(err) for err in self._said())


# --- our side: a fork server ------------------------------------------------------------------


def _serve() -> None:
    """Read one JSON request a line on stdin, fork a child per request, answer one JSON line."""
    from supervisor.cli import main  # imported once, before any fork

    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SUPERVISOR_NO_CACHE": "1"}
    _warm_up(main)
    for line in sys.stdin:
        request = json.loads(line)
        err_fd, err_path = tempfile.mkstemp(prefix="census-err-")
        out_fd, out_path = tempfile.mkstemp(prefix="census-out-") if request.get("stdout") else (None, "")
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child
            code = 70
            try:
                os.dup2(err_fd, 2)
                os.dup2(out_fd if out_fd is not None else os.open(os.devnull, os.O_WRONLY), 1)
                os.chdir(request["cwd"])
                resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
                if request["nobody"]:
                    os.setgid(NOBODY)
                    os.setuid(NOBODY)
                os.environ.clear()
                os.environ.update(base_env)
                os.environ["HOME"] = request["home"]
                main.main(args=request["args"], prog_name="supervisor", standalone_mode=True)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException as exc:  # noqa: BLE001 - reported as an internal error
                sys.stderr.write(f"Traceback (census child): {exc!r}\n")
                code = 70
            finally:
                sys.stderr.flush()
                sys.stdout.flush()
                os._exit(code)
        os.close(err_fd)
        stdout = ""
        if out_fd is not None:
            os.close(out_fd)
        timed_out, status, usage = _reap(pid, request["timeout"])
        seconds = time.monotonic() - started
        with open(err_path, "rb") as handle:
            stderr = handle.read(200_000).decode("utf-8", errors="replace")
        os.unlink(err_path)
        if out_path:
            with open(out_path, "rb") as handle:
                stdout = handle.read(200_000).decode("utf-8", errors="replace")
            os.unlink(out_path)
        answer = {
            "code": os.waitstatus_to_exitcode(status) if not timed_out else -9,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) and not timed_out else 0,
            "stderr": stderr,
            "seconds": seconds,
            "rss_mb": usage.ru_maxrss / 1024,
            "timed_out": timed_out,
            "stdout": stdout,
        }
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


_WARM_UP = (
    "include: [inc.yaml]\nservices:\n  s:\n    image: x\n    env_file: e.env\n    label_file: e.env\n"
    "    extends: {file: base.yaml, service: b}\n    build: {context: ., dockerfile: Dockerfile}\n"
    "    ports: ['80:80']\n    volumes: ['./a:/a']\n    command: run ${A:-x}\n    mem_limit: 1g\n",
    "services:\n  s:\n    image: 1\n    ports: ['x']\n",
)


def _warm_up(main: Any) -> None:
    # Import, in the server, every module a run imports lazily: a child run as another user may not
    # read the project's own files, and every child would import them again.
    import contextlib
    import io

    for text in _WARM_UP:
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "compose.yaml").write_text(text)
            Path(tmp, "inc.yaml").write_text("services:\n  i:\n    image: x\n")
            Path(tmp, "base.yaml").write_text("services:\n  b:\n    image: x\n")
            Path(tmp, "e.env").write_text("A=1\n")
            Path(tmp, "Dockerfile").write_text("FROM x\n")
            old = os.getcwd()
            os.chdir(tmp)
            try:
                with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                    for args in (["config", "-q"], ["config"], ["validate"]):
                        try:
                            main.main(args=args, prog_name="supervisor", standalone_mode=True)
                        except SystemExit:
                            pass
            finally:
                os.chdir(old)


def _reap(pid: int, timeout: float) -> tuple[bool, int, resource.struct_rusage]:
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    timed_out = not ready
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    return timed_out, status, usage


class Server:
    """One fork server process (not shared between threads)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fuzz.census_run", "--serve"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(
        self, cwd: str, home: str, args: Sequence[str], nobody: bool, timeout: float, keep_stdout: bool = False
    ) -> Side:
        stdin: IO[str] = self.proc.stdin  # type: ignore[assignment]
        stdout: IO[str] = self.proc.stdout  # type: ignore[assignment]
        request = {
            "cwd": cwd,
            "home": home,
            "args": list(args),
            "nobody": nobody,
            "timeout": timeout,
            "stdout": keep_stdout,
        }
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()
        answer = json.loads(stdout.readline())
        return Side(**answer)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


# --- compose's side ---------------------------------------------------------------------------


def _compose_limits(nobody: bool) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        if nobody:
            os.setgid(NOBODY)
            os.setuid(NOBODY)

    return apply


def run_compose(cwd: str, home: str, args: Sequence[str], nobody: bool, timeout: float = COMPOSE_TIMEOUT) -> Side:
    from ..compose.oracle import compose_binary

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home}
    started = time.monotonic()
    with open(os.devnull, "wb") as null, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [compose_binary(), *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=null,
            stderr=err,
            preexec_fn=_compose_limits(nobody),
        )
        timed_out, status, usage = _reap(proc.pid, timeout)
        proc.returncode = 0  # reaped above
        seconds = time.monotonic() - started
        err.seek(0)
        stderr = err.read(200_000).decode("utf-8", errors="replace")
    signalled = os.WTERMSIG(status) if os.WIFSIGNALED(status) and not timed_out else 0
    code = -9 if timed_out else os.waitstatus_to_exitcode(status)
    return Side(code, stderr, seconds, usage.ru_maxrss / 1024, timed_out, signalled)


# --- one case, many cases ---------------------------------------------------------------------


def run_case(case: Case, server: Server, mode: str = "config") -> Result:
    root = Path(tempfile.mkdtemp(prefix="census-"))
    home = Path(tempfile.mkdtemp(prefix="census-home-"))
    try:
        materialize(case, root / "p")
        if case.as_nobody:
            os.chown(home, NOBODY, NOBODY)
            root.chmod(0o755)
        args = [*case.args, "config", "-q"]
        our_args = [*case.args, *COMMANDS[mode]]
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            theirs = pool.submit(run_compose, str(root / "p"), str(home), args, case.as_nobody)
            ours = server.run(str(root / "p"), str(home), our_args, case.as_nobody, OURS_TIMEOUT, mode != "config")
            return Result(case, theirs.result(), ours, mode)
    finally:
        for dirpath, dirnames, _ in os.walk(root):
            for name in dirnames:
                try:
                    os.chmod(os.path.join(dirpath, name), 0o755)
                except OSError:
                    pass
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def run_cases(cases: Sequence[Case], workers: int = 2, mode: str = "config") -> Iterator[Result]:
    """Every case's result, in the order of ``cases``; ``mode`` chooses our command (:data:`COMMANDS`)."""
    servers = [Server() for _ in range(workers)]
    free = list(servers)

    def one(case: Case) -> Result:
        server = free.pop()
        try:
            return run_case(case, server, mode)
        finally:
            free.append(server)

    try:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            yield from pool.map(one, cases)
    finally:
        for server in servers:
            server.close()


def parse_only(argv: Optional[list[str]] = None) -> None:
    if (argv or sys.argv[1:]) == ["--serve"]:
        _serve()


if __name__ == "__main__":
    parse_only()
