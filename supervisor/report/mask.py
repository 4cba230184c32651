"""Masking of secrets in everything we print or log.

A value is secret when its variable name looks like one (``*PASSWORD*``, ``*_SECRET``,
``*_KEY``, ``*TOKEN*``) or, for any variable, the password part of a URL (``scheme://user:pw@host``).
"""

from __future__ import annotations

import re
from typing import Any, Optional

__all__ = ["MASK", "is_secret_name", "mask_value", "mask_text", "mask_config", "mask_env_record"]

MASK = "****"

_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|_KEY$|^KEY$|TOKEN|CREDENTIAL|PRIVATE)", re.IGNORECASE)
# userinfo password in a URL: scheme://user:password@host
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)(?P<pw>[^@/?#\s]*)(?P<at>@)")


def is_secret_name(name: str) -> bool:
    """True when a variable of this name holds a secret."""
    return bool(_SECRET_NAME.search(name))


def mask_text(text: str) -> str:
    """Mask the passwords of URLs inside free text."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + (MASK if m.group("pw") else "") + m.group("at"), text)


def mask_value(name: str, value: Optional[str]) -> Optional[str]:
    """The printable form of ``name=value``: the whole value for secret names, URL passwords otherwise."""
    if value is None:
        return None
    if is_secret_name(name) and value != "":
        return MASK
    return mask_text(value)


def _mask_environment(env: Any) -> Any:
    if isinstance(env, dict):
        return {k: mask_value(str(k), v) if isinstance(v, str) or v is None else v for k, v in env.items()}
    return env


def mask_config(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a compose-config document with service environment secrets masked."""
    services = config.get("services")
    if not isinstance(services, dict):
        return config
    out = dict(config)
    masked = {}
    for name, service in services.items():
        if isinstance(service, dict) and "environment" in service:
            service = dict(service)
            service["environment"] = _mask_environment(service["environment"])
            build = service.get("build")
            if isinstance(build, dict) and isinstance(build.get("args"), dict):
                build = dict(build)
                build["args"] = _mask_environment(build["args"])
                service["build"] = build
        masked[name] = service
    out["services"] = masked
    return out


def mask_env_record(record: dict[str, Any]) -> dict[str, Any]:
    """Mask a serialised :class:`~supervisor.compose.model.EnvValue` (value, raw, substitutions, overridden)."""
    name = record.get("name", "")
    out = dict(record)
    out["value"] = mask_value(name, record.get("value"))
    if record.get("raw") is not None and is_secret_name(name):
        out["raw"] = mask_text(record["raw"]) if "$" in record["raw"] else MASK
    elif record.get("raw") is not None:
        out["raw"] = mask_text(record["raw"])
    subs = []
    for sub in record.get("substitutions") or []:
        sub = dict(sub)
        secret = is_secret_name(sub.get("variable", "")) or is_secret_name(name)
        sub["value"] = MASK if secret and sub.get("value") else mask_value(sub.get("variable", ""), sub.get("value"))
        subs.append(sub)
    out["substitutions"] = subs
    out["overridden"] = [mask_env_record(o) for o in record.get("overridden") or []]
    return out
