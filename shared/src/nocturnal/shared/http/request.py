"""Parsing request input: JSON bodies into strict pydantic models, query parameters, client IP."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, get_args

from aiohttp import web
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetJsonSchemaHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from nocturnal.shared.problems import Problem, error_message, validation_problem

ModelT = TypeVar("ModelT", bound=BaseModel)


class MultiLine:
    """Marker of a text field that may hold line breaks (`Annotated[str, MULTI_LINE]`): a
    description, a biography. Every other text is single-line."""


MULTI_LINE = MultiLine()


class Secret:
    """Marker of a secret typed by a person (`Annotated[str, SECRET]`): a password, taken as
    typed. Never shown, so only control characters (other than tab and line breaks) and
    bidirectional overrides are refused: a password that worked must go on working."""


SECRET = Secret()

MAX_COMBINING_MARKS = 4
"""Combining marks one character may carry: Vietnamese and Hebrew pointing use at most 2-3;
more is "Zalgo" text that spills over the lines around it."""

# Zero-width non-joiner and joiner: Persian, Indic scripts and emoji sequences need them.
_JOINERS = frozenset("\u200c\u200d")
# Bidirectional embeddings, overrides and isolates (Unicode TR 9): they make text read
# differently from what it is ("Trojan Source", file names like "photo\u202egnp.exe").
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Tab and line breaks: what a multi-line text and a secret keep (CR LF from some clients).
_LINE_CONTROLS = frozenset("\t\n\r")
_REFUSED = {
    "Cc": "control characters",
    "Cf": "invisible format characters",
    "Cn": "unassigned characters or noncharacters",
    "Cs": "unpaired surrogates",
    "Zl": "line separators",
    "Zp": "paragraph separators",
}
# Letters, numbers, punctuation, symbols: what shows as something on a screen.
_VISIBLE = frozenset("LNPS")


def text_error(text: str, *, multi_line: bool = False) -> str | None:
    """Why `text`, shown to other people, is refused, or None when it is fine.

    Refused (Unicode general categories, as this Python's `unicodedata` knows them): control
    characters (Cc; a multi-line text keeps tab, `\\r` and `\\n`), format characters (Cf: zero-width spaces,
    U+FEFF, bidirectional controls, ...) other than ZWNJ U+200C and ZWJ U+200D, unassigned code
    points and noncharacters (Cn, e.g. U+FFFF), surrogates (Cs), U+2028/U+2029 (Zl, Zp); more
    than `MAX_COMBINING_MARKS` combining marks (M*) on one character; a non-empty text without
    any visible character (a letter, number, punctuation or symbol: L*, N*, P*, S*).
    """
    marks = 0
    visible = False
    for char in text:
        category = unicodedata.category(char)
        if (
            category in _REFUSED
            and char not in _JOINERS
            and not (multi_line and char in _LINE_CONTROLS)
        ):
            return f"must not contain {_REFUSED[category]} (U+{ord(char):04X})"
        if category[0] == "M":
            marks += 1
            if marks > MAX_COMBINING_MARKS:
                return f"must not stack more than {MAX_COMBINING_MARKS} combining marks"
        elif char not in _JOINERS:
            marks = 0
        visible = visible or category[0] in _VISIBLE
    if text and not visible:
        return "must contain a visible character"
    return None


def _secret_error(text: str) -> str | None:
    if any(
        (unicodedata.category(char) == "Cc" and char not in _LINE_CONTROLS)
        or char in _BIDI_CONTROLS
        for char in text
    ):
        return "must not contain control characters (other than tab and line breaks)"
    return None


# The rule as a JSON Schema pattern (ECMA-262, Python and Rust regex alike) for the OpenAPI
# document, in part: the control, format, separator and noncharacter code points of the Basic
# Multilingual Plane (surrogates aside: a regex cannot name them everywhere). Unassigned code
# points, stacked marks and the need for a visible character are not in it.
def _class_of(*categories: str, keep: str = "") -> str:
    ranges: list[list[int]] = []
    for code in range(0x10000):
        char = chr(code)
        if unicodedata.category(char) in categories and char not in keep + "".join(_JOINERS):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    noncharacters = [[0xFDD0, 0xFDEF], [0xFFFE, 0xFFFF]]
    return "".join(
        f"\\u{low:04x}" + (f"-\\u{high:04x}" if high > low else "")
        for low, high in ranges + noncharacters
    )


def _patterns(refused: str) -> tuple[str, str]:
    """(any text, a required one: something besides white space) refusing `refused`."""
    return f"^[^{refused}]*$", f"^[^{refused}]*[^\\s{refused}][^{refused}]*$"


TEXT_PATTERN, REQUIRED_TEXT_PATTERN = _patterns(_class_of("Cc", "Cf", "Zl", "Zp"))
MULTI_LINE_TEXT_PATTERN, REQUIRED_MULTI_LINE_TEXT_PATTERN = _patterns(
    _class_of("Cc", "Cf", "Zl", "Zp", keep="\t\n\r")
)


@dataclass(frozen=True)
class _Rule:
    """How a text field is checked (`error`) and documented (None: no pattern)."""

    error: Callable[[str], str | None]
    pattern: str | None = None
    required_pattern: str | None = None


_SINGLE_LINE = _Rule(text_error, TEXT_PATTERN, REQUIRED_TEXT_PATTERN)
_MULTI_LINE = _Rule(
    functools.partial(text_error, multi_line=True),
    MULTI_LINE_TEXT_PATTERN,
    REQUIRED_MULTI_LINE_TEXT_PATTERN,
)
_SECRET = _Rule(_secret_error)


def _check_text(value: Any, rule: _Rule) -> Any:
    if isinstance(value, str) and (error := rule.error(value)):
        raise ValueError(error)
    if isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _check_text(item, rule)
    return value


def _markers(annotation: Any) -> Iterator[Any]:
    for arg in get_args(annotation):
        yield arg
        yield from _markers(arg)


@functools.cache
def _rule_of(model: type[BaseModel], name: str) -> _Rule:
    field = model.model_fields[name]
    markers = {*field.metadata, *_markers(field.annotation)}
    if SECRET in markers:
        return _SECRET
    return _MULTI_LINE if MULTI_LINE in markers else _SINGLE_LINE


def _document_text_rule(schema: dict[str, Any], rule: _Rule) -> None:
    if schema.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(schema):
        pattern = rule.required_pattern if schema.get("minLength", 0) else rule.pattern
        if pattern is not None:
            schema["pattern"] = pattern
    for branch in (schema.get("items"), *schema.get("anyOf", ())):
        if isinstance(branch, dict):
            _document_text_rule(branch, rule)


class TextRules(BaseModel):
    """Base of request bodies and query strings: every text field follows `text_error`
    (single-line unless marked `MULTI_LINE`; a `SECRET` only refuses control characters), in
    lists too, and its JSON Schema says so in part (`TEXT_PATTERN`, `MULTI_LINE_TEXT_PATTERN`
    or their `REQUIRED_` forms on every text without a pattern of its own).

    Raises:
        pydantic.ValidationError: a text breaks the rule (the message says how).
    """

    @field_validator("*", mode="after")
    @classmethod
    def _readable_text(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name is None:
            return value
        return _check_text(value, _rule_of(cls, info.field_name))

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler.resolve_ref_schema(handler(core_schema))
        names = {field.alias or name: name for name, field in cls.model_fields.items()}
        for prop_name, prop in json_schema.get("properties", {}).items():
            _document_text_rule(prop, _rule_of(cls, names.get(prop_name, prop_name)))
        return json_schema


class RequestModel(TextRules):
    """Base of every request body: unknown fields are rejected, JSON types are not coerced,
    and every text follows the shared text rule (`TextRules`, `text_error`): text is stored
    and shown to other users."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


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
            body, malformed JSON, a name repeated within an object, unknown fields or wrong
            JSON types (with `errors: [{field, message}]`).
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
    if (fault := _strict_json_fault(body)) is not None:
        raise fault
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise Problem(400, _NOT_JSON) from None
        raise validation_problem(_field_errors(exc)) from None


_GIVEN_TWICE = "given more than once"
"""A JSON name repeated within one object (RFC 7493 §2.3) or a query parameter repeated: which
value was meant is unknowable."""
_NOT_JSON = "the request body is not valid JSON"


class _NotJsonError(ValueError):
    """`NaN`, `Infinity` or `-Infinity`: accepted by Python's and pydantic's parsers, not JSON."""


class _Repeated(dict[str, Any]):
    """A parsed JSON object in which `name` was given more than once."""

    def __init__(self, pairs: list[tuple[str, Any]], name: str) -> None:
        super().__init__(pairs)
        self.name = name


def _refuse_constant(constant: str) -> Any:
    raise _NotJsonError(constant)


def _strict_json_fault(body: bytes) -> Problem | None:
    """What RFC 8259 / I-JSON (RFC 7493) refuse in `body` that the pydantic parser would take:
    a `NaN`/`Infinity` (400 not valid JSON), a name given twice within one object (400 naming
    its dotted path, e.g. `requirements.minimum_experience`, as validation errors do; the
    parser would keep the last value silently). None otherwise, also when `body` is not JSON
    the standard library reads: the model's parse then says what is wrong."""
    repeated = False

    def object_of(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        names: set[str] = set()
        for name, _ in pairs:
            if name in names:
                repeated = True
                return _Repeated(pairs, name)
            names.add(name)
        return dict(pairs)

    try:
        parsed = json.loads(body, object_pairs_hook=object_of, parse_constant=_refuse_constant)
    except _NotJsonError:
        return Problem(400, _NOT_JSON)
    except (ValueError, RecursionError):
        return None
    if not repeated:
        return None
    return validation_problem(
        [{"field": _repeated_path(parsed) or "(body)", "message": _GIVEN_TWICE}]
    )


def _repeated_path(value: Any, path: tuple[str, ...] = ()) -> str | None:
    """The dotted path (list items by index) of the first name given twice in `value`."""
    if isinstance(value, _Repeated):
        return ".".join((*path, value.name))
    if isinstance(value, dict):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if (found := _repeated_path(item, (*path, str(key)))) is not None:
            return found
    return None


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
            given more than once (which value was meant is unknowable), a name or value that
            is not UTF-8 once percent-decoded (RFC 3986 §2.5), or values that do not fit
            together (field `(query)`).
    """
    undecodable = _not_utf8(request.rel_url.raw_query_string)
    if undecodable:
        raise validation_problem(
            [{"field": name, "message": "must be UTF-8 text"} for name in undecodable]
        )
    query = request.query
    repeated = sorted({name for name in query if len(query.getall(name)) > 1})
    if repeated:
        raise validation_problem([{"field": name, "message": _GIVEN_TWICE} for name in repeated])
    try:
        return model.model_validate({name: query[name] for name in query})
    except ValidationError as exc:
        raise validation_problem(_field_errors(exc, "(query)")) from None


def _not_utf8(raw_query: str) -> list[str]:
    """The parameters of `raw_query` whose name or value is not UTF-8 once percent-decoded
    (aiohttp's `request.query` would turn those bytes into U+FFFD and a filter would silently
    match nothing), named as far as they decode."""
    names = []
    for pair in raw_query.split("&"):
        name, _, value = pair.partition("=")
        for part in (name, value):
            try:
                urllib.parse.unquote_to_bytes(part.replace("+", " ")).decode("utf-8")
            except UnicodeDecodeError:
                names.append(urllib.parse.unquote_plus(name) or "(query)")
                break
    return sorted(set(names))


class QueryModel(TextRules):
    """Base of every query-string model: fields are the parameters (strings coerced to their
    types, surrounding spaces stripped); a parameter the route does not know is refused (400),
    as an unknown field of a body is: `?limt=5` is a mistake to report, not to ignore. Text
    values follow the same rule as a body's (`TextRules`): `?specialty=%00` is a 400 naming
    `specialty`."""

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
