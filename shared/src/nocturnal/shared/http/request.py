"""Parsing request input: JSON bodies into strict pydantic models, query parameters, client IP."""

from __future__ import annotations

import asyncio
import ipaddress
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetJsonSchemaHandler,
    ValidationError,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from nocturnal.shared.problems import Problem, error_message, validation_problem

ModelT = TypeVar("ModelT", bound=BaseModel)


# Bidirectional embeddings, overrides and isolates (Unicode TR 9): they make text read
# differently from what it is ("Trojan Source", file names like "photo\u202egnp.exe").
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ALLOWED_CONTROLS = frozenset("\t\n\r")


def _has_hostile_characters(text: str) -> bool:
    return any(
        (unicodedata.category(char) == "Cc" and char not in _ALLOWED_CONTROLS)
        or char in _BIDI_CONTROLS
        for char in text
    )


def _check_text(value: Any) -> Any:
    if isinstance(value, str) and _has_hostile_characters(value):
        raise ValueError(
            "must not contain control characters (other than tab and line breaks)"
            " or bidirectional overrides"
        )
    if isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _check_text(item)
    return value


# The same rule as a JSON Schema pattern (ECMA-262, Python and Rust regex alike), for the
# OpenAPI document; a required text must also hold more than spaces (they are stripped).
_HOSTILE_CLASS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
TEXT_PATTERN = f"^[^{_HOSTILE_CLASS}]*$"
REQUIRED_TEXT_PATTERN = f"^[^{_HOSTILE_CLASS}]*[^\\s{_HOSTILE_CLASS}][^{_HOSTILE_CLASS}]*$"


def _document_text_rule(schema: dict[str, Any]) -> None:
    if schema.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(schema):
        schema["pattern"] = REQUIRED_TEXT_PATTERN if schema.get("minLength", 0) else TEXT_PATTERN
    for branch in (schema.get("items"), *schema.get("anyOf", ())):
        if isinstance(branch, dict):
            _document_text_rule(branch)


class RequestModel(BaseModel):
    """Base of every request body: unknown fields are rejected, JSON types are not coerced,
    and no text may hold control characters (other than tab and line breaks) or Unicode
    bidirectional overrides — they are stored and shown to other users. Its JSON Schema says
    so (`TEXT_PATTERN`, `REQUIRED_TEXT_PATTERN` on every text without a pattern of its own)."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_hostile_characters(cls, value: Any) -> Any:
        return _check_text(value)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler.resolve_ref_schema(handler(core_schema))
        for prop in json_schema.get("properties", {}).values():
            _document_text_rule(prop)
        return json_schema


def schema_extra(
    *, examples: list[dict[str, Any]], never_null: Iterable[str] = ()
) -> Callable[[dict[str, Any]], None]:
    """A request model's `json_schema_extra`: its `examples`, and the optional fields that may
    be absent but never null (a PATCH field a validator refuses null for) shown without null."""
    names = frozenset(never_null)

    def extra(schema: dict[str, Any]) -> None:
        schema["examples"] = examples
        for name, prop in schema.get("properties", {}).items():
            if name in names and "anyOf" in prop:
                prop["anyOf"] = [branch for branch in prop["anyOf"] if branch != {"type": "null"}]
                if len(prop["anyOf"]) == 1:
                    prop.update(prop.pop("anyOf")[0])
                if prop.get("default", ...) is None:
                    del prop["default"]

    return extra


def _field_errors(exc: ValidationError, whole: str = "(body)") -> list[dict[str, str]]:
    """`errors` entries; an error of the whole input (a model validator's) is named `whole`."""
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or whole, "message": error_message(err)}
        for err in exc.errors(include_url=False)
    ]


async def read_json(
    request: web.Request, model: type[ModelT], *, max_bytes: int, timeout_s: float = 30.0
) -> ModelT:
    """Parse the request body as `model`.

    Raises:
        Problem: 400 when there is no body at all (whatever the content type); 415 when the
            content type is not JSON; 413 when the body exceeds `max_bytes`; 408 when the body
            has not arrived within `timeout_s` seconds (a stalled client); 400 for an empty
            body, malformed JSON, unknown fields or wrong JSON types (with
            `errors: [{field, message}]`).
    """
    if not request.body_exists:
        # Nothing was sent, so nothing of a wrong type was: say what is missing.
        raise Problem(400, "the request body is empty")
    if request.content_type != "application/json" and not request.content_type.endswith("+json"):
        raise Problem(415, "the request body must be application/json")
    if request.content_length is not None and request.content_length > max_bytes:
        raise Problem(413)
    try:
        async with asyncio.timeout(timeout_s):
            body = await _read_at_most(request, max_bytes + 1)
    except TimeoutError:
        raise Problem(408) from None
    if len(body) > max_bytes:
        raise Problem(413)
    if not body.strip():
        raise Problem(400, "the request body is empty")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise Problem(400, "the request body is not valid JSON") from None
        raise validation_problem(_field_errors(exc)) from None


async def _read_at_most(request: web.Request, limit: int) -> bytes:
    # StreamReader.read(n) returns what is buffered so far; read until EOF or `limit` bytes.
    chunks: list[bytes] = []
    size = 0
    while size < limit and (chunk := await request.content.read(limit - size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def integer_in(low: int, high: int) -> BeforeValidator:
    """A query model field's validator: ASCII digits for an integer from `low` to `high`
    (400 "must be an integer from `low` to `high`" otherwise). Put it after
    `Field(ge=low, le=high)`, which the OpenAPI document shows."""

    def parse(value: Any) -> Any:
        # isdigit() alone admits "²" and other non-ASCII digits that int() refuses.
        if not isinstance(value, str):
            return value
        if not (value.isascii() and value.isdigit() and len(value) <= 12) or not (
            low <= int(value) <= high
        ):
            raise ValueError(f"must be an integer from {low} to {high}")
        return int(value)

    return BeforeValidator(parse)


def parse_query(request: web.Request, model: type[ModelT]) -> ModelT:
    """The request's query string as `model` (a `QueryModel`).

    Raises:
        Problem: 400 (`errors: [{field, message}]`) for an invalid or unknown parameter, one
            given more than once (which value was meant is unknowable), or values that do not
            fit together (field `(query)`).
    """
    query = request.query
    repeated = sorted({name for name in query if len(query.getall(name)) > 1})
    if repeated:
        raise validation_problem(
            [{"field": name, "message": "given more than once"} for name in repeated]
        )
    try:
        return model.model_validate({name: query[name] for name in query})
    except ValidationError as exc:
        raise validation_problem(_field_errors(exc, "(query)")) from None


class QueryModel(BaseModel):
    """Base of every query-string model: fields are the parameters (strings coerced to their
    types, surrounding spaces stripped); a parameter the route does not know is refused (400),
    as an unknown field of a body is: `?limt=5` is a mistake to report, not to ignore."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def client_ip(request: web.Request, header: str) -> str:
    """The client address as reported by the trusted gateway hop in `header` (e.g. X-Real-IP).

    Falls back to the socket peer when the header is absent or not an IP address. Never reads
    `X-Forwarded-For`, whose leftmost entries the client controls.
    """
    reported = request.headers.get(header, "").strip()
    try:
        return str(ipaddress.ip_address(reported))
    except ValueError:
        return request.remote or "0.0.0.0"
