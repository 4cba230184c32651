"""Follow a service's start-up to the program it runs, as Docker would run it (pure).

The container's command is compose ``entrypoint``/``command`` over the image's ``ENTRYPOINT``/
``CMD``; from there the chain goes into shell scripts of the build context (``exec`` or the last
command), ``sh -c "a && exec b"``, ``npm start``/``npm run X`` through ``package.json``, process
managers (see :mod:`supervisor.policy.managers`), down to the program and its entry file
(``unified_worker.py``; ``dist/index.js`` mapped back to ``server/index.ts`` through the build
script). Every step is recorded with its ``file:line``.

Files of the build context come in as a mapping of context-relative paths to text (the caller
reads them, lazily if it likes); a missing key is a missing file.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
import shlex
from typing import Any, Mapping, Optional

from supervisor.policy.commands import argv_list
from supervisor.policy.dockerfile import ImageConfig, Instruction
from supervisor.policy.managers import ProcessManager

__all__ = ["Step", "Launch", "follow_launch", "shell_words", "last_command"]

_MAX_DEPTH = 12
_SHELLS = {"sh", "bash", "ash", "dash", "zsh"}
_SKIP = {
    "echo",
    "printf",
    "set",
    "exit",
    "sleep",
    "true",
    "false",
    "cd",
    "export",
    "wait",
    "trap",
    "[",
    "test",
    "if",
    "then",
    "else",
    "elif",
    "fi",
    "while",
    "do",
    "done",
    "for",
    "case",
    "esac",
    "until",
    "return",
    "local",
    "shift",
    "unset",
    ":",
    "source",
    ".",
    "chmod",
    "mkdir",
    "cp",
    "mv",
    "rm",
    "cat",
    "ls",
    "break",
}
_SEPARATORS = {"&&", "||", ";", "|", "&", ";;", "\n"}
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")
_NODE = {"node", "nodejs", "tsx", "ts-node", "bun", "deno"}
_NODE_VALUE_OPTIONS = {
    "-r",
    "--require",
    "--import",
    "--loader",
    "--experimental-loader",
    "--env-file",
    "-C",
    "--conditions",
}
_PYTHON_VALUE_OPTIONS = {"-X", "-W", "-c"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclasses.dataclass(frozen=True)
class Step:
    """One link of the chain: what ran, and where it was written."""

    kind: str  # compose | dockerfile | script | shell | npm | manager | build | program
    text: str
    where: str = ""  # file:line (or file:line:column for compose)

    def render(self) -> str:
        return f"{self.where}: {self.text}" if self.where else self.text

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text, "location": self.where}


@dataclasses.dataclass(frozen=True)
class Launch:
    """Where a service's start-up leads."""

    steps: tuple[Step, ...] = ()
    argv: tuple[str, ...] = ()  # the last command of the chain
    program: Optional[str] = None  # node, python, redis-server, ...
    entry: Optional[str] = None  # entry file as started, relative to the build context when inside it
    source: Optional[str] = None  # the source file the entry is built from (or the entry itself)
    manager: Optional[ProcessManager] = None
    instances: int = 1
    cpu_dependent: bool = False
    instances_origin: str = ""  # "docker-entrypoint.sh:31: -i 32"
    env: tuple[tuple[str, str, str], ...] = ()  # (name, value, where): assignments in the start command
    image_env: tuple[tuple[str, str, str], ...] = ()  # (name, value, where): the image's ENV defaults
    cannot_start: Optional[str] = None  # why the program cannot start (its entry is not built)
    followed: bool = False  # the chain reached a program
    built_from: tuple[str, ...] = ()  # when the entry is not built: the sources the build does compile

    @property
    def process_count(self) -> int:
        return self.instances

    def to_json(self) -> dict[str, Any]:
        return {
            "program": self.program,
            "entry": self.entry,
            "source": self.source,
            "process_manager": self.manager.name if self.manager else None,
            "instances": self.instances,
            "cpu_dependent": self.cpu_dependent,
            "instances_origin": self.instances_origin,
            "cannot_start": self.cannot_start,
            "followed": self.followed,
            "chain": [s.to_json() for s in self.steps],
        }


def shell_words(script: str) -> list[str]:
    """A shell command line split into words and operators (``&&``, ``;``, ``|``...)."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace = " \t\r"
    lexer.commenters = "#"
    lexer.wordchars += "$@{}:+%,!^[]"  # parameter expansions stay one word
    try:
        words = []
        for word in lexer:
            words.append(word)
        return words
    except ValueError:
        return script.split()


def _commands(words: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for word in words:
        if word in _SEPARATORS or set(word) <= set("&|;\n") and word:
            out.append([])
        elif word in ("(", ")", "{", "}"):
            continue
        else:
            out[-1].append(word)
    return [c for c in out if c]


def last_command(script: str) -> list[str]:
    """The command of ``sh -c SCRIPT`` that keeps running: the ``exec``'d one, else the last real one."""
    commands = _commands(shell_words(script))
    for command in reversed(commands):
        if command[0] == "exec" and len(command) > 1:
            return command
    for command in reversed(commands):
        if command[0] not in _SKIP:
            return command
    return commands[-1] if commands else []


def _script_command(text: str) -> tuple[list[str], int]:
    """The long-running command of a shell script and its line: the last ``exec``, else the last command."""
    best: Optional[tuple[list[str], int]] = None
    fallback: Optional[tuple[list[str], int]] = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        for command in _commands(shell_words(line)):
            if command[0] == "exec" and len(command) > 1:
                best = (command, number)
            elif (
                command[0] not in _SKIP
                and not _ASSIGNMENT.match(command[0])
                and "=" not in command[0]
                and not command[0].startswith("$")
            ):
                fallback = (command, number)
    chosen = best or fallback
    return chosen if chosen else ([], 0)


def _context_path(path: str, workdir: str) -> str:
    """A path as the container sees it, relative to the build context (WORKDIR is taken as the context's copy)."""
    if not path.startswith("/"):
        path = posixpath.join(workdir or "/", path)
    path = posixpath.normpath(path)
    root = posixpath.normpath(workdir or "/")
    if root != "/" and (path == root or path.startswith(root + "/")):
        return path[len(root) :].lstrip("/")
    if root == "/":
        return path.lstrip("/")
    return path


def _line_of(text: str, pattern: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if re.search(pattern, line):
            return number
    return 0


@dataclasses.dataclass
class _Walk:
    files: Mapping[str, str]
    label: str  # prefix shown before context files ("python-firehose/")
    workdir: str
    steps: list[Step]
    env: list[tuple[str, str, str]]
    managers: Mapping[str, ProcessManager]
    environ: Mapping[str, Optional[str]] = dataclasses.field(default_factory=dict)
    manager: Optional[ProcessManager] = None
    instances: int = 1
    cpu_dependent: bool = False
    instances_origin: str = ""
    built_from: tuple[str, ...] = ()

    def read(self, path: str) -> Optional[str]:
        try:
            value = self.files.get(path)
        except (KeyError, OSError):
            return None
        return value if isinstance(value, str) else None

    def where(self, path: str, line: int) -> str:
        return f"{self.label}{path}:{line}" if line else f"{self.label}{path}"


def _package_scripts(walk: _Walk) -> tuple[dict[str, str], str]:
    text = walk.read("package.json")
    if text is None:
        return {}, ""
    try:
        document = json.loads(text)
    except ValueError:
        return {}, text
    scripts = document.get("scripts") if isinstance(document, dict) else None
    return ({str(k): str(v) for k, v in scripts.items()} if isinstance(scripts, dict) else {}), text


def _npm_script(command: list[str]) -> Optional[str]:
    tool = posixpath.basename(command[0])
    args = [a for a in command[1:] if not a.startswith("-")]
    if tool in ("npm", "pnpm"):
        if args[:1] == ["start"]:
            return "start"
        if args[:1] in (["run"], ["run-script"]) and len(args) > 1:
            return args[1]
        return None
    if tool == "yarn":
        if args[:1] == ["run"] and len(args) > 1:
            return args[1]
        return args[0] if args else "start"
    return None


_PARAM = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-=+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def _expand(words: list[str], args: list[str], walk: "_Walk") -> list[str]:
    """A shell's expansion of ``$@``, ``$1``..., ``${VAR:-default}`` and ``$VAR`` in a command's words."""
    values: dict[str, Optional[str]] = dict(walk.environ)
    values.update({name: value for name, value, _ in walk.env})

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        op, default = match.group(2), match.group(3) or ""
        value = values.get(name)
        if op in (":-", ":="):
            return value if value else default
        if op in ("-", "="):
            return value if value is not None else default
        if op in (":+", "+"):
            return default if (value if op == ":+" else value is not None) else ""
        return value or ""

    out: list[str] = []
    for word in words:
        if word in ("$@", "$*"):
            out.extend(args)
            continue
        if re.fullmatch(r"\$[1-9]", word):
            index = int(word[1]) - 1
            if index < len(args):
                out.append(args[index])
            continue
        expanded = _PARAM.sub(one, word) if "$" in word else word
        if expanded or not word.startswith("$"):
            out.append(expanded)
    return out


def _walk(command: list[str], walk: _Walk, where: str, depth: int) -> tuple[list[str], Optional[str]]:
    """Follow one command; returns the final argv and the program's entry (context-relative)."""
    while command and (command[0] in ("exec", "env", "nohup") or _ASSIGNMENT.match(command[0])):
        head = command.pop(0)
        if _ASSIGNMENT.match(head):
            name, _, value = head.partition("=")
            walk.env.append((name, value, where))
    if not command or depth > _MAX_DEPTH:
        return command, None
    tool = posixpath.basename(command[0])
    if tool in _SHELLS:
        rest = command[1:]
        if "-c" in rest and rest.index("-c") + 1 < len(rest):
            shell_script = rest[rest.index("-c") + 1]
            inner = _expand(last_command(shell_script), rest[rest.index("-c") + 3 :], walk)
            walk.steps.append(Step("shell", f"{tool} -c: runs {' '.join(inner)}", where))
            return _walk(inner, walk, where, depth + 1)
        operands = [a for a in rest if not a.startswith("-")]
        if operands:
            return _walk(operands, walk, where, depth + 1)
        return command, None
    # a script of the build context
    if command[0].endswith(".sh") or "/" in command[0]:
        path = _context_path(command[0], walk.workdir)
        text = walk.read(path)
        if text is None and command[0].startswith("/") and command[0].endswith(".sh"):
            # a script copied outside WORKDIR (COPY docker-entrypoint.sh /usr/local/bin/): look for it by name
            path = posixpath.basename(command[0])
            text = walk.read(path)
        if text is not None and not path.endswith((".js", ".py", ".ts")):
            inner, line = _script_command(text)
            inner = _expand(inner, command[1:], walk)
            if inner:
                shown = " ".join(inner)
                walk.steps.append(Step("script", shown, walk.where(path, line)))
                return _walk(list(inner), walk, walk.where(path, line), depth + 1)
    script = _npm_script(command)
    if script is not None:
        scripts, text = _package_scripts(walk)
        body = scripts.get(script)
        if body is None:
            if script == "start" and (walk.read("server.js") is not None):
                walk.steps.append(
                    Step("npm", "npm start: no start script, runs node server.js", walk.where("package.json", 0))
                )
                return _walk(["node", "server.js"], walk, where, depth + 1)
            walk.steps.append(
                Step("npm", f"npm script {script!r} not found in package.json", walk.where("package.json", 0))
            )
            return command, None
        line = _line_of(text, r'"' + re.escape(script) + r'"\s*:')
        here = walk.where("package.json", line)
        inner = last_command(body)
        walk.steps.append(Step("npm", f"npm script {script}: {body}", here))
        return _walk(inner, walk, here, depth + 1)
    manager = walk.managers.get(tool)
    if manager is not None:
        return _manager(command, manager, walk, where, depth)
    if tool in _NODE:
        entry = _first_positional(command[1:], _NODE_VALUE_OPTIONS, stop={"-e", "--eval", "-p", "--print"})
        if entry is None:
            return command, None
        return command, _context_path(entry, walk.workdir)
    if _PYTHON.match(tool):
        args = command[1:]
        if "-m" in args and args.index("-m") + 1 < len(args):
            module = args[args.index("-m") + 1]
            return command, module.replace(".", "/") + ".py"
        entry = _first_positional(args, _PYTHON_VALUE_OPTIONS, stop={"-c"})
        return command, (_context_path(entry, walk.workdir) if entry else None)
    return command, None


def _first_positional(args: list[str], value_options: set[str], stop: set[str]) -> Optional[str]:
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in stop:
            return None
        if arg in value_options:
            skip = True
            continue
        if arg.startswith("-"):
            continue
        return arg
    return None


def _manager(
    command: list[str], manager: ProcessManager, walk: _Walk, where: str, depth: int
) -> tuple[list[str], Optional[str]]:
    args = command[1:]
    if args[:1] == ["start"]:
        args = args[1:]
    value: Optional[str] = None
    script: Optional[str] = None
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg in manager.instance_options:
            value = args[i + 1] if i + 1 < len(args) else None
            skip = True
        elif any(arg.startswith(o + "=") for o in manager.instance_options):
            value = arg.split("=", 1)[1]
        elif arg in manager.value_options:
            skip = True
        elif arg.startswith("-"):
            continue
        elif script is None:
            script = arg
    walk.manager = manager
    config_text = None
    if script is not None and re.search(manager.config_file_pattern, script):
        path = _context_path(script, walk.workdir)
        config_text = walk.read(path)
        if config_text is not None:
            found = re.search(r"\bscript\s*[:=]\s*['\"]([^'\"]+)['\"]", config_text)
            instances = re.search(r"\binstances\s*[:=]\s*['\"]?(-?\w+)", config_text)
            if instances and value is None:
                value = instances.group(1)
                walk.instances_origin = f"{walk.where(path, _line_of(config_text, r'instances'))}: instances {value}"
            script = found.group(1) if found else None
    count, cpu, note = manager.count(value)
    walk.instances, walk.cpu_dependent = count, cpu
    if value is not None and not walk.instances_origin:
        walk.instances_origin = f"{where}: -i {value}"
    elif value is None:
        walk.instances_origin = f"{where}: no -i option ({manager.name} starts 1 process)"
    shown = f"{manager.name}: {note}"
    walk.steps.append(Step("manager", shown, where))
    if script is None:
        return command, None
    return command, _context_path(script, walk.workdir)


def _build_outputs(walk: _Walk) -> tuple[dict[str, str], str]:
    """Entry files the ``build`` script writes (``dist/index.js`` -> ``server/index.ts``), and its location."""
    scripts, text = _package_scripts(walk)
    body = scripts.get("build")
    if body is None:
        return {}, ""
    here = walk.where("package.json", _line_of(text, r'"build"\s*:'))
    outputs: dict[str, str] = {}
    for command in _commands(shell_words(body)):
        tool = posixpath.basename(command[0]) if command else ""
        if tool == "npx" and len(command) > 1:
            command = command[1:]
            tool = posixpath.basename(command[0])
        if tool != "esbuild":
            if tool == "tsc":
                outputs.setdefault("*tsc", "")
            continue
        entries = [a for a in command[1:] if not a.startswith("-") and re.search(r"\.[cm]?[jt]sx?$", a)]
        outfile = next((a.split("=", 1)[1] for a in command if a.startswith("--outfile=")), None)
        outdir = next((a.split("=", 1)[1] for a in command if a.startswith("--outdir=")), None)
        if outfile and entries:
            outputs[posixpath.normpath(outfile)] = entries[0]
        elif outdir and entries:
            common = (
                posixpath.commonpath([posixpath.dirname(e) or "." for e in entries])
                if len(entries) > 1
                else posixpath.dirname(entries[0])
            )
            for entry in entries:
                rel = posixpath.relpath(entry, common or ".")
                outputs[posixpath.normpath(posixpath.join(outdir, re.sub(r"\.[cm]?[jt]sx?$", ".js", rel)))] = entry
    return outputs, here


def _node_source(entry: str, walk: _Walk) -> tuple[Optional[str], Optional[str]]:
    """(source file, reason it cannot start) for a Node entry file."""
    if walk.read(entry) is not None:
        return entry, None
    outputs, here = _build_outputs(walk)
    if entry in outputs:
        walk.steps.append(Step("build", f"{entry} is built from {outputs[entry]}", here))
        return outputs[entry], None
    real = {k: v for k, v in outputs.items() if not k.startswith("*")}
    if real and "*tsc" not in outputs:
        made = ", ".join(sorted(real))
        walk.steps.append(Step("build", f"the build writes {made}, not {entry}", here))
        walk.built_from = tuple(sorted(set(real.values())))
        return None, f"{entry} is not built (the build script at {here} writes {made})"
    stem = re.sub(r"^(dist|build|out|lib)/", "", entry)
    for candidate in (re.sub(r"\.js$", ".ts", "src/" + stem), re.sub(r"\.js$", ".ts", stem)):
        if walk.read(candidate) is not None:
            walk.steps.append(Step("build", f"{entry} is compiled from {candidate}", here))
            return candidate, None
    return None, None


def follow_launch(
    config: Mapping[str, Any],
    image: Optional[ImageConfig],
    files: Mapping[str, str],
    *,
    label: str = "",
    dockerfile: str = "Dockerfile",
    compose_where: Mapping[str, str] = {},
    managers: Mapping[str, ProcessManager],
    environment: Mapping[str, Optional[str]] = {},
) -> Launch:
    """The chain from a service's configuration to the program it runs.

    ``image`` is the Dockerfile's stage (None for a prebuilt image), ``files`` the build context,
    ``label`` the context's path as shown to users ("python-firehose/"), ``compose_where`` the
    locations of the service's ``entrypoint``/``command`` keys, ``managers`` the process managers
    by command name, ``environment`` the container's
    variables from the compose file (shell scripts expand them; the image's ENV fills the rest).
    """
    image = image or ImageConfig()
    steps: list[Step] = []
    env: list[tuple[str, str, str]] = []
    image_env = tuple(
        (name, value, f"{label}{dockerfile}:{line}") for name, (value, line) in image.env_defaults().items()
    )

    def image_part(instruction: Optional[Instruction], what: str) -> list[str]:
        if instruction is None:
            return []
        steps.append(
            Step(
                "dockerfile",
                f"{what} {json.dumps(list(instruction.argv))}"
                if not instruction.shell_form
                else f"{what} {instruction.argv[-1]}",
                f"{label}{dockerfile}:{instruction.line}",
            )
        )
        return list(instruction.argv)

    entry = argv_list(config.get("entrypoint"))
    cmd = argv_list(config.get("command"))
    argv: list[str] = []
    where = ""
    if entry is not None:
        where = compose_where.get("entrypoint", "")
        steps.append(Step("compose", f"entrypoint: {' '.join(entry)}", where))
        argv += entry
    else:
        argv += image_part(image.entrypoint, "ENTRYPOINT")
        where = steps[-1].where if steps else ""
    if cmd is not None:
        steps.append(Step("compose", f"command: {' '.join(cmd)}", compose_where.get("command", "")))
        where = where or compose_where.get("command", "")
        argv += cmd
    elif entry is None:
        argv += image_part(image.cmd, "CMD")
        where = where or (steps[-1].where if steps else "")
    if not argv:
        return Launch(tuple(steps), image_env=image_env)
    environ = {name: value for name, (value, _) in image.env_defaults().items()}
    environ.update({k: v for k, v in environment.items() if v is not None})
    walk = _Walk(files, label, image.workdir, steps, env, managers, environ)
    final, entry_file = _walk(list(argv), walk, where, 0)
    program = posixpath.basename(final[0]) if final else None
    if walk.manager is not None:
        program = walk.manager.program
    source: Optional[str] = None
    cannot: Optional[str] = None
    if entry_file is not None:
        if program in _NODE or (walk.manager is not None and walk.manager.program == "node"):
            source, cannot = _node_source(entry_file, walk)
        else:
            source = entry_file if walk.read(entry_file) is not None else None
    shown = entry_file or " ".join(final)
    steps.append(
        Step("program", f"{program}: {shown}" + (f" (from {source})" if source and source != entry_file else ""), "")
    )
    return Launch(
        tuple(steps),
        tuple(final),
        program,
        entry_file,
        source,
        walk.manager,
        walk.instances,
        walk.cpu_dependent,
        walk.instances_origin,
        tuple(env),
        image_env,
        cannot,
        bool(program),
        walk.built_from,
    )
