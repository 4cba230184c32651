"""Masking of secrets in everything we print or log.

A value is secret when its variable name looks like one (``*PASSWORD*``, ``*_SECRET``,
``*_KEY``, ``*TOKEN*``, ``*_PASS``), when it is the password part of a URL
(``scheme://user:pw@host``) or of a libpq conninfo (``password=pw``), or when a template
filled it from a secret variable (``pm_id: ${POSTGRES_PASSWORD}``: see :func:`secret_values`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Collection, Iterator, Optional

if TYPE_CHECKING:
    from supervisor.compose.model import EnvValue, Project

__all__ = ["MASK", "is_secret_name", "mask_value", "mask_text", "mask_config", "mask_env_record",
           "secret_values", "redact"]

MASK = "****"

_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|_KEY$|^KEY$|APIKEY|TOKEN|CREDENTIAL|PRIVATE"
                          r"|(^|_)PASS$)", re.IGNORECASE)
# userinfo password in a URL: scheme://user:password@host.  Passwords are often written
# without percent-encoding, so the password runs to the last "@" of the token (a run of
# characters other than white space, quotes and angle brackets; over-masking a query string
# that holds an "@" is the safe error).  The scheme starts where a word starts: matching is
# linear in the text's length, whatever it holds.
_TOKEN = re.compile(r"[^\s\"'<>]+")
_URL_HEAD = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s\"'<>]*:")
# password=... in a libpq keyword/value conninfo ("host=db user=u password=pw")
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\b(?:password|passwd)\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^\s'\"]+)",
                               re.IGNORECASE)
# Values shorter than this are masked where they are a whole value, never inside other text:
# replacing "0" or "true" everywhere would garble the output without hiding anything.
_MIN_SUBSTRING_SECRET = 6


def is_secret_name(name: str) -> bool:
    """True when a variable of this name holds a secret."""
    return bool(_SECRET_NAME.search(name))


_PORT_AND_PATH = re.compile(r"\d{1,5}[/?#]")


def _mask_token(match: re.Match[str]) -> str:
    token = match.group(0)
    at = token.rfind("@")
    if at < 0 or "://" not in token:
        return token
    head = _URL_HEAD.search(token, 0, at)
    if head is None:
        return token
    pw = token[head.end():at]
    if _PORT_AND_PATH.match(pw):  # host:port/path?q=a@b: an "@" after the path, no userinfo
        return token
    return token[:head.end()] + (MASK if pw else "") + token[at:]


def mask_text(text: str) -> str:
    """Mask the passwords of URLs and of ``password=`` conninfo keywords inside free text."""
    return _KEYWORD_PASSWORD.sub(lambda m: m.group("head") + MASK, _TOKEN.sub(_mask_token, text))


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
    """Values that templates took from secret variables, to hide wherever they show up.

    ``pm_id: ${POSTGRES_PASSWORD}`` gives ``pm_id`` a secret although its name is not one;
    the value is then hidden everywhere (decision traces, findings, other variables).
    """
    found: set[str] = set()
    for service in project.services.values():
        for top in service.environment.values():
            for record in _records(top):
                secret_name = is_secret_name(record.name)
                for sub in record.substitutions:
                    if sub.value and not sub.used_default and (secret_name or is_secret_name(sub.variable)):
                        found.add(sub.value)
                if secret_name and record.value and record.substitutions:
                    found.add(record.value)
    # A value that the project also shows in the open (a non-secret variable such as
    # POSTGRES_USER=appview, the project or a service name) hides nothing when masked, and
    # masking it inside other text would garble names: keep it out.
    public = {project.name, *project.services}
    for service in project.services.values():
        for name, record in service.environment.items():
            derived = is_secret_name(name) or any(is_secret_name(sub.variable) for sub in record.substitutions)
            if record.value and not derived:
                public.add(record.value)
    return frozenset(found - public)


def redact(obj: Any, secrets: Collection[str]) -> Any:
    """``obj`` (text, or JSON-like data) with every secret value replaced by :data:`MASK`.

    A string equal to a secret is masked whole; longer secrets are also masked inside text.
    Mapping keys and non-string scalars are kept.
    """
    if not secrets:
        return obj
    if isinstance(obj, str):
        if obj in secrets:
            return MASK
        for secret in sorted(secrets, key=len, reverse=True):
            if len(secret) >= _MIN_SUBSTRING_SECRET and secret in obj:
                obj = obj.replace(secret, MASK)
        return obj
    if isinstance(obj, dict):
        return {k: redact(v, secrets) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact(v, secrets) for v in obj)
    return obj


def _mask_environment(env: Any, secrets: Collection[str] = ()) -> Any:
    if isinstance(env, dict):
        return {k: mask_value(str(k), v, secrets) if isinstance(v, str) or v is None else v for k, v in env.items()}
    return env


def mask_config(config: dict[str, Any], secrets: Collection[str] = ()) -> dict[str, Any]:
    """A copy of a compose-config document with service environment secrets masked.

    ``secrets`` (see :func:`secret_values`) are hidden in every environment value and build arg.
    """
    services = config.get("services")
    if not isinstance(services, dict):
        return config
    out = dict(config)
    masked = {}
    for name, service in services.items():
        if isinstance(service, dict) and "environment" in service:
            service = dict(service)
            service["environment"] = _mask_environment(service["environment"], secrets)
            build = service.get("build")
            if isinstance(build, dict) and isinstance(build.get("args"), dict):
                build = dict(build)
                build["args"] = _mask_environment(build["args"], secrets)
                service["build"] = build
        masked[name] = service
    out["services"] = masked
    return out


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
        sub["value"] = (MASK if secret and sub.get("value")
                        else mask_value(sub.get("variable", ""), sub.get("value"), secrets))
        subs.append(sub)
    out["substitutions"] = subs
    out["overridden"] = [mask_env_record(o, secrets) for o in record.get("overridden") or []]
    return out
