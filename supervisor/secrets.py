"""Masking of secrets in everything we print or log (one home: every layer imports it from here).

A value is secret when its variable name looks like one (``*PASSWORD*``, ``*_SECRET``,
``*_KEY``, ``*TOKEN*``, ``*_PASS``), when it is the password part of a URL
(``scheme://user:pw@host``) or of a libpq conninfo (``password=pw``), or when a template
filled it from a secret variable (``pm_id: ${POSTGRES_PASSWORD}``: see :func:`secret_values`).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Collection, Iterator, Mapping, Optional

if TYPE_CHECKING:
    from supervisor.compose.model import EnvValue, Project

__all__ = [
    "MASK",
    "is_secret_name",
    "mask_value",
    "mask_text",
    "mask_argv",
    "mask_config",
    "mask_env_record",
    "secret_values",
    "environment_secrets",
    "redact",
    "redact_words",
    "MaskingFilter",
]

MASK = "****"

# Secret names are judged by their words (split at "_", "-", "." and camelCase): a word holding
# PASSWORD/PASSWD/PASSPHRASE/SECRET, a word TOKEN (or ending in it), CREDENTIAL(S), PASS, APIKEY,
# BASICAUTH, or KEY as the last word.  A name that ends in a word for a place (FILE, PATH, DIR)
# names where the secret lives, not the secret; TOKENS counts them; a PRIMARY/PUBLIC/... KEY is
# not a secret.
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_SECRET_INFIXES = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET")
_SECRET_WORDS = frozenset({"PASS", "APIKEY", "CREDENTIAL", "CREDENTIALS", "BASICAUTH"})
_PLACE_WORDS = frozenset({"FILE", "FILES", "PATH", "DIR", "DIRECTORY"})
_OPEN_KEY_WORDS = frozenset({"PRIMARY", "PUBLIC", "FOREIGN", "SORT", "PARTITION", "CACHE", "IDEMPOTENCY"})
# userinfo password in a URL: scheme://user:password@host.  Passwords are often written
# without percent-encoding, so the password runs to the last "@" of the token (a run of
# characters other than white space, quotes and angle brackets; over-masking a query string
# that holds an "@" is the safe error).  The scheme starts where a word starts: matching is
# linear in the text's length, whatever it holds.
_TOKEN = re.compile(r"[^\s\"'<>]+")
_URL_HEAD = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s\"'<>]*:")
# password=... in a libpq keyword/value conninfo ("host=db user=u password=pw")
# NAME=value where NAME is a secret name: libpq's "password=pw", "PGPASSWORD=pw psql",
# "--token=abc"; and an option followed by its value: "--api-key abc".
_ASSIGNMENT = re.compile(
    r"(?P<head>(?<![A-Za-z0-9_.])(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*)"
    r"(?P<pw>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s'\"&;]+)"
)
_OPTION_VALUE = re.compile(
    r"(?P<head>(?<![A-Za-z0-9_.-])--?(?P<name>[A-Za-z][A-Za-z0-9_.-]*)\s+)"
    r"(?P<pw>[^\s'\"-][^\s'\"]*)"
)
# Values shorter than this are masked where they are a whole value, never inside other text:
# replacing "0" or "true" everywhere would garble the output without hiding anything.
_MIN_SUBSTRING_SECRET = 6
# A secret-named variable's literal value shorter than this is not hidden elsewhere ("1", "no"):
# it would mask every equal value of the project without hiding anything.
_MIN_KNOWN_SECRET = 4
# Secrets this long are hidden inside other words too; shorter ones only where they stand alone.
_MIN_INNER_SECRET = 8


def is_secret_name(name: str) -> bool:
    """True when a variable (or key, or option) of this name holds a secret."""
    words = [w for w in _WORD_SPLIT.split(_CAMEL.sub(r"\1_\2", name).upper()) if w]
    if not words or words[-1] in _PLACE_WORDS:
        return False
    for index, word in enumerate(words):
        if word in _SECRET_WORDS or any(infix in word for infix in _SECRET_INFIXES):
            return True
        if word == "TOKEN" or (word.endswith("TOKEN") and len(word) > 5):
            return True
        if word == "BASIC" and index + 1 < len(words) and words[index + 1] == "AUTH":
            return True
    if words[-1] == "KEY":
        return len(words) == 1 or words[-2] not in _OPEN_KEY_WORDS
    return False


_PORT_AND_PATH = re.compile(r"\d{1,5}[/?#]")


def _mask_token(match: re.Match[str]) -> str:
    token = match.group(0)
    at = token.rfind("@")
    if at < 0 or "://" not in token:
        return token
    head = _URL_HEAD.search(token, 0, at)
    if head is None:
        return token
    pw = token[head.end() : at]
    if _PORT_AND_PATH.match(pw):  # host:port/path?q=a@b: an "@" after the path, no userinfo
        return token
    return token[: head.end()] + (MASK if pw else "") + token[at:]


def mask_text(text: str) -> str:
    """Mask the passwords of URLs and of ``password=`` conninfo keywords inside free text."""
    if "://" in text:
        text = _TOKEN.sub(_mask_token, text)
    if "=" in text:
        text = _ASSIGNMENT.sub(_mask_named, text)
    if "-" in text:
        text = _OPTION_VALUE.sub(_mask_named, text)
    return text


def _mask_named(match: re.Match[str]) -> str:
    if not is_secret_name(match.group("name")) or match.group("pw") == MASK:
        return match.group(0)
    return match.group("head") + MASK


def mask_argv(argv: list[Any], secrets: Collection[str] = ()) -> list[Any]:
    """An argument list (``command``, ``entrypoint``, ``healthcheck.test``) with secrets masked.

    Each argument is masked as text; an option with a secret name (``--token``, ``-password``)
    also hides the argument after it.
    """
    out: list[Any] = []
    hide_next = False
    for arg in argv:
        if not isinstance(arg, str):
            out.append(arg)
            hide_next = False
            continue
        if hide_next and arg and not arg.startswith("-"):
            out.append(MASK)
            hide_next = False
            continue
        out.append(redact(mask_text(arg), secrets))
        hide_next = arg.startswith("-") and "=" not in arg and is_secret_name(arg.lstrip("-"))
    return out


def mask_value(name: str, value: Optional[str], secrets: Collection[str] = ()) -> Optional[str]:
    """The printable form of ``name=value``: the whole value for secret names, URL passwords otherwise.

    ``secrets`` are further values to hide wherever they appear (see :func:`secret_values`).
    """
    if value is None:
        return None
    if is_secret_name(name) and value != "":
        return MASK
    return redact(mask_text(value), secrets) if secrets else mask_text(value)


def _records(record: "EnvValue") -> Iterator["EnvValue"]:
    yield record
    for earlier in record.overridden:
        yield from _records(earlier)


def secret_values(project: "Project") -> frozenset[str]:
    """Values known to be secret, to hide wherever they show up.

    The values of secret-named variables (in a service's environment, or in the project
    environment that templates read: the shell over ``.env``), and values that templates took from
    them: ``pm_id: ${POSTGRES_PASSWORD}`` gives ``pm_id`` a secret although its name is not one,
    and ``OTHER: hunter22`` next to ``DB_PASSWORD: hunter22`` repeats one.  Each is then hidden
    everywhere (other variables, commands, labels, decision traces, findings).
    """
    found: set[str] = set()
    for name, (value, _origin) in project.environment.items():
        if is_secret_name(name) and len(value) >= _MIN_KNOWN_SECRET:
            found.add(value)
    for service in project.services.values():
        for top in service.environment.values():
            for record in _records(top):
                secret_name = is_secret_name(record.name)
                for sub in record.substitutions:
                    if sub.value and not sub.used_default and (secret_name or is_secret_name(sub.variable)):
                        found.add(sub.value)
                if secret_name and record.value and (record.substitutions or len(record.value) >= _MIN_KNOWN_SECRET):
                    found.add(record.value)
    # Names the project shows in the open (the project, its services, the images' names) hide
    # nothing when masked, and masking them inside other text would garble the output: keep them.
    public = {project.name, *project.services}
    # and their words: the containers are named PROJECT-SERVICE-N (a password "appview" must not
    # turn appview-dev-db-1 into ****-dev-db-1)
    for name in (project.name, *project.services):
        public.update(part for part in re.split(r"[-_.]", name) if part)
    for service in project.services.values():
        image = service.config.get("image")
        if isinstance(image, str):
            public.add(image)
            public.update(part for part in re.split(r"[/:@]", image) if part)
    return frozenset(found - public)


def model_secret_values(model: Mapping[str, Any]) -> frozenset[str]:
    """:func:`secret_values` for an uninterpolated model (``config --no-interpolate``): the values
    of secret-named variables and build args written in it, in a mapping or as ``NAME=value``."""
    found: set[str] = set()
    public: set[str] = set()
    services = model.get("services")
    for name, service in services.items() if isinstance(services, dict) else ():
        public.add(str(name))
        if not isinstance(service, dict):
            continue
        build = service.get("build")
        for entries in (service.get("environment"), build.get("args") if isinstance(build, dict) else None):
            pairs: list[tuple[Any, Any]] = list(entries.items()) if isinstance(entries, dict) else []
            if isinstance(entries, list):
                pairs = [str(e).partition("=")[::2] for e in entries if "=" in str(e)]
            for key, value in pairs:
                text = "" if value is None else str(value)
                if is_secret_name(str(key)) and len(text) >= _MIN_KNOWN_SECRET and "$" not in text:
                    found.add(text)
        if isinstance(service.get("image"), str):
            public.add(service["image"])
            public.update(part for part in re.split(r"[/:@]", service["image"]) if part)
    project = str(model.get("name") or "")
    for name in [project, *public]:
        public.update(part for part in re.split(r"[-_.]", name) if part)
    public.add(project)
    return frozenset(found - public)


_URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s\"'<>]*:([^\s\"'<>/?#]+)@")


def environment_secrets(environ: Mapping[str, str]) -> frozenset[str]:
    """Secrets a process environment holds: values of secret-named variables, URL and conninfo passwords.

    For a program that reads its settings from the environment (the worker): a secret given by
    mistake as another setting (``DB_POOL_SIZE=$DB_PASSWORD``) is then hidden in its messages.
    """
    found: set[str] = set()
    for name, value in environ.items():
        if is_secret_name(name) and len(value) >= _MIN_KNOWN_SECRET:
            found.add(value)
        if "://" in value and "@" in value:
            found.update(m.group(1) for m in _URL_PASSWORD.finditer(value) if len(m.group(1)) >= _MIN_KNOWN_SECRET)
        if "=" in value:
            for match in _ASSIGNMENT.finditer(value):
                password = match.group("pw").strip("'\"")
                if is_secret_name(match.group("name")) and len(password) >= _MIN_KNOWN_SECRET:
                    found.add(password)
    return frozenset(found)


# A secret-named setting (see is_secret_name) always holds one of these words: text without any of
# them, without "://" and without a known secret has nothing that mask_text or redact_words would hide.
_SECRET_HINTS = r"://|(?i:pass|secret|token|key|credential|auth)"


class MaskingFilter(logging.Filter):
    """A logging filter that masks every record's message (URL passwords, ``NAME=secret``, known secrets).

    A line that holds no URL, no word of a secret name and no known secret (one precompiled search)
    is passed on as it is; only the others are masked.
    """

    def __init__(self, secrets: Collection[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secrets)
        known = sorted((re.escape(secret) for secret in self.secrets if secret), key=len, reverse=True)
        self._may_hold_secret = re.compile("|".join([_SECRET_HINTS, *known])).search

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._may_hold_secret(message) is None:
            if record.args:  # formatted once: the handler's formatter reuses the text
                record.msg, record.args = message, None
            return True
        masked = redact_words(mask_text(message), self.secrets)
        record.msg, record.args = masked, None
        return True


def redact(obj: Any, secrets: Collection[str]) -> Any:
    """``obj`` (text, or JSON-like data) with every secret value replaced by :data:`MASK`.

    A string equal to a secret is masked whole; longer secrets are also masked inside text, where
    they stand as a word of their own (not inside another word) and outside URLs (whose passwords
    :func:`mask_text` hides: replacing a password that is also the user or database name there
    would garble the URL and show the password by its shape).  Mapping keys and non-string
    scalars are kept.
    """
    if not secrets:
        return obj
    if isinstance(obj, str):
        if obj in secrets:
            return MASK
        long_ones = [secret for secret in secrets if len(secret) >= _MIN_SUBSTRING_SECRET and secret in obj]
        if not long_ones:
            return obj
        # a secret of _MIN_INNER_SECRET characters or more is hidden inside words too ("x" + secret)
        inner = [re.escape(x) for x in long_ones if len(x) >= _MIN_INNER_SECRET]
        words = [re.escape(x) for x in long_ones if len(x) < _MIN_INNER_SECRET]
        alternatives = ([f"(?:{'|'.join(sorted(inner, key=len, reverse=True))})"] if inner else []) + (
            [f"(?<![A-Za-z0-9])(?:{'|'.join(sorted(words, key=len, reverse=True))})(?![A-Za-z0-9])"] if words else []
        )
        pattern = re.compile("|".join(alternatives))
        return _TOKEN.sub(lambda m: m.group(0) if "://" in m.group(0) else pattern.sub(MASK, m.group(0)), obj)
    if isinstance(obj, dict):
        return {k: redact(v, secrets) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact(v, secrets) for v in obj)
    return obj


def redact_words(text: str, secrets: Collection[str]) -> str:
    """``text`` with each of ``secrets`` replaced by :data:`MASK` wherever it stands as a word.

    For messages that quote a value (errors, paths): unlike :func:`redact`, short secrets and
    secrets inside URLs are replaced too.
    """
    present = [secret for secret in secrets if secret and secret in text]
    if not present:
        return text
    pattern = re.compile(
        "(?<![A-Za-z0-9])(?:"
        + "|".join(re.escape(x) for x in sorted(present, key=len, reverse=True))
        + ")(?![A-Za-z0-9])"
    )
    return pattern.sub(MASK, text)


def _mask_environment(env: Any, secrets: Collection[str] = ()) -> Any:
    if isinstance(env, dict):
        return {
            k: mask_value(str(k), v, secrets)
            if isinstance(v, str) or v is None
            else (MASK if isinstance(v, (int, float)) and is_secret_name(str(k)) else v)
            for k, v in env.items()
        }
    return env


_ARGV_FIELDS = frozenset({"command", "entrypoint", "test"})
_ENVIRONMENT_FIELDS = frozenset({"environment", "args"})


def mask_config(config: dict[str, Any], secrets: Collection[str] = ()) -> dict[str, Any]:
    """A copy of a compose-config document with every secret masked, in every field.

    Environment variables and build args by their names; everywhere else (labels, commands,
    health checks, images, extensions, ...) passwords in URLs, ``NAME=value`` and option values
    with secret names, values under secret-named keys, and ``secrets`` (see :func:`secret_values`)
    wherever they appear.
    """
    return _mask_node(config, secrets, "")


def _mask_node(node: Any, secrets: Collection[str], key: str) -> Any:
    if isinstance(node, dict):
        if key in _ENVIRONMENT_FIELDS:
            return _mask_environment(node, secrets)
        out = {}
        for name, value in node.items():
            if isinstance(value, str) and value and is_secret_name(str(name)):
                out[name] = MASK
            else:
                out[name] = _mask_node(value, secrets, str(name))
        return out
    if isinstance(node, list):
        if key in _ARGV_FIELDS:
            return mask_argv(node, secrets)
        return [_mask_node(item, secrets, "") for item in node]
    if isinstance(node, str):
        masked = redact(mask_text(node), secrets)
        return node if masked == node else masked  # unchanged text keeps its type (a timestamp)
    return node


def mask_env_record(record: dict[str, Any], secrets: Collection[str] = ()) -> dict[str, Any]:
    """Mask a serialised :class:`~supervisor.compose.model.EnvValue` (value, raw, substitutions, overridden)."""
    name = record.get("name", "")
    out = dict(record)
    out["value"] = mask_value(name, record.get("value"), secrets)
    if record.get("raw") is not None and is_secret_name(name):
        out["raw"] = mask_text(record["raw"]) if "$" in record["raw"] else MASK
    elif record.get("raw") is not None:
        out["raw"] = mask_text(record["raw"])
    subs = []
    for sub in record.get("substitutions") or []:
        sub = dict(sub)
        secret = is_secret_name(sub.get("variable", "")) or is_secret_name(name)
        sub["value"] = (
            MASK if secret and sub.get("value") else mask_value(sub.get("variable", ""), sub.get("value"), secrets)
        )
        subs.append(sub)
    out["substitutions"] = subs
    out["overridden"] = [mask_env_record(o, secrets) for o in record.get("overridden") or []]
    return out
