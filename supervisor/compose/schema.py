"""Validation against the Compose Specification JSON schema.

The schema is the one compiled into the compose release we reproduce (see
:data:`SCHEMA_SOURCE`), shipped in ``schemas/compose-spec.json``; ``jsonschema`` is
imported, and the validator compiled, on first use only.  Errors become
``file:line:column: message`` at the offending key, with compose's wording
(``services.web additional properties 'foo' not allowed``).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any, Iterable, Optional

from supervisor.compose.model import ComposeError, Location
from supervisor.compose.yamlsource import key_location
from supervisor.verdicts import Verdicts, schema_violation, verdict_key

__all__ = ["SCHEMA_SOURCE", "SCHEMA_SHA256", "validate", "validate_services", "load_schema"]


#: Where the schema comes from: compose-go's own copy, at the release inside the compose binary we
#: reproduce (compose 2.40.3 is built with compose-go 2.9.1), byte for byte.
SCHEMA_SOURCE = "github.com/compose-spec/compose-go v2.9.1 schema/compose-spec.json"
SCHEMA_SHA256 = "89f4bdc4ba651ff024118917a7cdb67d9d78c1af4bab9b12ec2fc85f5b7d90d3"


@functools.lru_cache(maxsize=1)
def _schema_bytes() -> bytes:
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas", "compose-spec.json")
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ComposeError(
            f"the Compose Specification schema is missing ({path}: {exc.strerror}); reinstall supervisor"
        ) from None


@functools.lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The Compose Specification schema (parsed once)."""
    schema: dict[str, Any] = json.loads(_schema_bytes())
    return schema


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema = _flatten(load_schema())
    # compose-go's copy names draft-07 without the trailing "#" jsonschema looks for
    draft7 = "draft-07" in str(schema.get("$schema", ""))
    cls = jsonschema.Draft7Validator if draft7 else jsonschema.validators.validator_for(schema)
    # Formats are not checked by compose either ("duration" is checked by the loader).
    return cls(schema)


def _defs_key(schema: dict[str, Any]) -> str:
    # draft-07 (compose-go's copy) keeps definitions under "definitions", 2019-09 and later "$defs"
    return "definitions" if "definitions" in schema else "$defs"


def _flatten(schema: dict[str, Any]) -> dict[str, Any]:
    """Fold ``allOf`` of plain object definitions into one ``additionalProperties: false`` schema.

    Equivalent for these definitions, and several times faster to evaluate
    than ``unevaluatedProperties``, which jsonschema tracks through every branch.
    """
    schema = json.loads(json.dumps(schema))
    defs = schema.get(_defs_key(schema)) or {}
    for definition in defs.values():
        parts = definition.get("allOf")
        if not parts or definition.get("unevaluatedProperties") is not False:
            continue
        targets: list[dict[str, Any]] = []
        for part in parts:
            ref = part.get("$ref", "") if isinstance(part, dict) else ""
            target = defs.get(ref.rpartition("/")[2]) if ref.startswith(f"#/{_defs_key(schema)}/") else None
            simple = isinstance(target, dict) and set(target) <= {
                "type",
                "description",
                "properties",
                "patternProperties",
                "required",
            }
            if not isinstance(target, dict) or not simple or len(part) != 1:
                break
            targets.append(target)
        else:
            properties: dict[str, Any] = {}
            patterns: dict[str, Any] = {}
            required: list[str] = list(definition.get("required") or [])
            for target in targets:
                properties.update(target.get("properties") or {})
                patterns.update(target.get("patternProperties") or {})
                required += target.get("required") or []
            properties.update(definition.get("properties") or {})
            patterns.update(definition.get("patternProperties") or {})
            del definition["allOf"]
            del definition["unevaluatedProperties"]
            definition["type"] = "object"
            definition["properties"] = properties
            definition["patternProperties"] = patterns
            definition["additionalProperties"] = False
            if required:
                definition["required"] = sorted(set(required))
    return schema


def _locate(model: Any, path: list[Any]) -> Optional[Location]:
    node = model
    best: Optional[Location] = getattr(model, "loc", None)
    for part in path:
        loc = key_location(node, part)
        if loc is not None:
            best = loc
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    return best


def _dotted(path: list[Any]) -> str:
    return ".".join(str(p) for p in path)


_TYPE_NAMES = {
    "array": "a array",
    "object": "a mapping",
    "string": "a string",
    "integer": "a integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "a null",
}


def _message(error: Any, base: Optional[list[Any]] = None) -> tuple[list[Any], str]:
    path = list(base or []) + list(error.absolute_path)
    where = _dotted(path)
    validator = error.validator
    if validator in ("additionalProperties", "unevaluatedProperties"):
        extra = sorted(
            k
            for k in error.instance
            if k not in (error.schema.get("properties") or {})
            and not any(__import__("re").search(p, k) for p in (error.schema.get("patternProperties") or {}))
        )
        if extra:
            path = path + [extra[0]]
        names = ", ".join(f"'{k}'" for k in extra)
        prefix = f"{where} " if where else ""
        return path, f"{prefix}additional properties {names} not allowed"
    if validator == "type":
        expected = error.validator_value
        if isinstance(expected, list):
            text = " or ".join((_TYPE_NAMES[t] if t in _TYPE_NAMES else t) for t in expected)
        else:
            text = _TYPE_NAMES[expected] if expected in _TYPE_NAMES else expected
        return path, f"{where} must be {text}"
    if validator == "required":
        missing = [k for k in error.validator_value if k not in (error.instance or {})]
        return path, f"{where} missing property '{missing[0] if missing else ''}'"
    if validator in ("oneOf", "anyOf"):
        best = None
        for sub in error.context or ():
            if best is None or len(list(sub.absolute_path)) > len(list(best.absolute_path)):
                best = sub
        if best is not None and best.validator != "type":
            return _message(best, base)
        return path, f"{where} must be {_one_of_types(error)}"
    if validator == "enum":
        return path, f"{where} must be one of {error.validator_value}"
    if validator == "uniqueItems":
        return path, f"{where} array items must be unique"
    if validator == "pattern":
        return path, f"{where} does not match pattern {error.validator_value!r}"
    return path, f"{where} {error.message}"


def _one_of_types(error: Any) -> str:
    names = []
    for sub in error.context or ():
        if sub.validator == "type":
            value = sub.validator_value
            for t in value if isinstance(value, list) else [value]:
                name = _TYPE_NAMES[t] if t in _TYPE_NAMES else t
                if name not in names:
                    names.append(name)
    # compose names the first alternative only ("must be a mapping" for a list_or_dict)
    return names[0] if names else "valid"


_SERVICE_NAME = re.compile(r"[a-zA-Z0-9._-]+")


def _subset(model: Any, services: Iterable[str]) -> Any:
    from supervisor.compose.yamlsource import LMap

    all_services = model.get("services")
    if not isinstance(all_services, dict):
        return model
    view = LMap(model, loc=getattr(model, "loc", None))
    view.keylocs = getattr(model, "keylocs", {})
    # a name the schema refuses is refused whoever touched it last (compose validates every name)
    chosen = set(services) | {n for n in all_services if isinstance(n, str) and not _SERVICE_NAME.fullmatch(n)}
    subset = LMap({n: all_services[n] for n in all_services if n in chosen}, loc=getattr(all_services, "loc", None))
    subset.keylocs = getattr(all_services, "keylocs", {})
    view["services"] = subset
    return view


@functools.lru_cache(maxsize=1)
def _schema_digest() -> str:
    # the file's bytes, not its parsed form: a remembered verdict then costs no JSON parse
    return verdict_key("compose-spec", "file", _schema_bytes().decode("utf-8", "replace")) or ""


@functools.lru_cache(maxsize=1)
def _service_validator() -> Any:
    return _validator().evolve(schema={"$ref": f"#/{_defs_key(load_schema())}/service"})


def validate(
    model: Any, file: str, services: Optional[Iterable[str]] = None, *, verdicts: Optional[Verdicts] = None
) -> None:
    """Raise :class:`ComposeError` for the first schema violation of ``model`` (merged up to ``file``).

    With ``services``, only those services are checked (the others are
    unchanged since they were last validated), with the rest of the model.
    ``verdicts`` remembers documents found valid (validating means importing jsonschema and
    compiling the schema, which costs more than everything else on a small project).
    """
    if services is not None:
        model = _subset(model, services)
    error = schema_violation(_validator, model, schema=_schema_digest(), definition="document", verdicts=verdicts)
    if error is None:
        return
    path, message = _message(error)
    location = _locate(model, path) or Location(file)
    raise ComposeError(f"validating {file}: {message}", location)


def validate_services(model: Any, last_files: dict[str, str], *, verdicts: Optional[Verdicts] = None) -> None:
    """Validate the services named in ``last_files`` (service -> the file named in errors)."""
    services = model.get("services")
    if not isinstance(services, dict):
        return
    for name, file in last_files.items():
        service = services.get(name)
        if service is None:
            continue
        error = schema_violation(
            _service_validator, service, schema=_schema_digest(), definition="service", verdicts=verdicts
        )
        if error is not None:
            path, message = _message(error, ["services", name])
            raise ComposeError(f"validating {file}: {message}", _locate(model, path) or Location(file))
