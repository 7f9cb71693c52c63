"""The shared text rule of request bodies and query strings (`text_error`, `TextRules`): text
is shown to other people, so what cannot be seen, or hides what is there, is refused."""

from __future__ import annotations

import re
from typing import Annotated, Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from nocturnal.shared.config import ServiceSettings
from nocturnal.shared.http.app import create_service_app, json_response
from nocturnal.shared.http.request import (
    MULTI_LINE,
    MULTI_LINE_TEXT_PATTERN,
    REQUIRED_MULTI_LINE_TEXT_PATTERN,
    REQUIRED_TEXT_PATTERN,
    SECRET,
    TEXT_PATTERN,
    QueryModel,
    RequestModel,
    parse_query,
    read_json,
    text_error,
)

# "I want" in Persian: the zero-width non-joiner keeps the verb prefix apart.
PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
REFUSED = {
    "zero-width space": "\u200b",
    "byte order mark": "\ufeff",
    "word joiner": "a\u2060b",
    "soft hyphen": "a\u00adb",
    "left-to-right mark": "a\u200eb",
    "bidi override": "\u202eevil",
    "bidi isolate": "x\u2066y",
    "nul": "evil\u0000",
    "bell": "a\u0007b",
    "next line (C1)": "z\u0085z",
    "line feed": "a\nb",
    "tab": "a\tb",
    "carriage return": "a\rb",
    "line separator": "a\u2028b",
    "noncharacter U+FFFF": "a\uffff",
    "noncharacter U+FDD0": "a\ufdd0",
    "unassigned": "a\U000e0fff",
    "tag characters": "flag\U000e0041",
    "only combining marks": "\u0301\u0302",
    "five marks on one base": "a\u0301\u0302\u0303\u0304\u0305",
    "marks with joiners between": "a\u0301\u200d\u0302\u200d\u0303\u200d\u0304\u200d\u0305",
    "only joiners": "\u200d\u200c",
}
ACCEPTED = {
    "latin with accents": "Zoë Ñúñez",
    "cyrillic and cjk": "ночь — 外科",
    "persian with ZWNJ": PERSIAN,
    "devanagari conjuncts": "क्षत्रिय स्त्री",
    "emoji ZWJ sequence": "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "keycap": "1\ufe0f\u20e3",
    "vietnamese": "Nguyễn Thị Ánh",
    "four marks on one base": "a\u0301\u0302\u0303\u0304",
    "empty (an optional text)": "",
}


@pytest.mark.parametrize("text", REFUSED.values(), ids=REFUSED.keys())
def test_invisible_hidden_or_unassigned_characters_are_refused(text: str) -> None:
    assert text_error(text) is not None


@pytest.mark.parametrize("text", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_text_of_real_scripts_is_accepted(text: str) -> None:
    assert text_error(text) is None


def test_a_multi_line_text_keeps_tabs_and_line_breaks_only() -> None:
    for text in ("first\nsecond", "first\r\nsecond", "\tindented"):
        assert text_error(text, multi_line=True) is None, repr(text)
    for other in ("a\u000bb", "a\u0000b", "a\u2028b", "\u200b", "\n\n", "\t\r\n"):
        assert text_error(other, multi_line=True) is not None, repr(other)


def test_the_documented_patterns_refuse_what_they_can_express() -> None:
    for text in ("\u200b", "\ufeff", "a\u00adb", "\u202eevil", "evil\u0000", "a\uffff"):
        assert not re.match(TEXT_PATTERN, text), repr(text)
        assert not re.match(MULTI_LINE_TEXT_PATTERN, text), repr(text)
    assert not re.match(TEXT_PATTERN, "a\nb") and re.match(MULTI_LINE_TEXT_PATTERN, "a\r\n\tb")
    assert re.match(REQUIRED_TEXT_PATTERN, PERSIAN)
    assert not re.match(REQUIRED_TEXT_PATTERN, "  ")
    assert re.match(REQUIRED_MULTI_LINE_TEXT_PATTERN, "a\nb")
    assert not re.match(REQUIRED_MULTI_LINE_TEXT_PATTERN, " \n ")


class Posting(RequestModel):
    title: str
    tags: list[str] = []
    description: Annotated[str, MULTI_LINE] = ""
    password: Annotated[str, SECRET] = ""


class Search(QueryModel):
    specialty: str | None = None
    note: Annotated[str, MULTI_LINE] | None = None


@pytest.fixture
async def client(aiohttp_client: Any) -> TestClient:
    async def post(request: web.Request) -> web.Response:
        return json_response((await read_json(request, Posting, max_bytes=4096)).model_dump())

    async def search(request: web.Request) -> web.Response:
        return json_response(parse_query(request, Search).model_dump())

    app = create_service_app(ServiceSettings(), service="test")
    app.router.add_post("/postings", post)
    app.router.add_get("/postings", search)
    client: TestClient = await aiohttp_client(app)
    return client


async def field_errors(resp: Any) -> list[dict[str, str]]:
    assert resp.status == 400, await resp.text()
    errors: list[dict[str, str]] = (await resp.json(content_type=None))["errors"]
    return errors


@pytest.mark.parametrize("text", ["\u200b", "\ufeff", "a\nb", "a\uffff", "\u202ex"])
async def test_a_body_text_breaking_the_rule_is_400_naming_the_field(
    client: TestClient, text: str
) -> None:
    errors = await field_errors(await client.post("/postings", json={"title": text}))
    assert [e["field"] for e in errors] == ["title"]
    assert errors[0]["message"] == text_error(text)
    errors = await field_errors(await client.post("/postings", json={"title": "t", "tags": [text]}))
    assert [e["field"] for e in errors] == ["tags"]


async def test_multi_line_fields_keep_line_feeds_and_secrets_only_refuse_controls(
    client: TestClient,
) -> None:
    body = {"title": "Night", "description": "one\ntwo", "password": "tab\there \u200b"}
    resp = await client.post("/postings", json=body)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["description"] == "one\ntwo"
    errors = await field_errors(await client.post("/postings", json={**body, "password": "a\0"}))
    assert [e["field"] for e in errors] == ["password"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("specialty=%ff", "specialty"),
        ("specialty=a%c3%28", "specialty"),
        ("note=ok&specialty=%ed%a0%80", "specialty"),  # an encoded surrogate
        ("specialty=%ff&note=%fe", "note"),
        ("%ff=x", "\ufffd"),
    ],
)
async def test_a_query_that_is_not_utf8_is_400_naming_the_parameter(
    client: TestClient, query: str, field: str
) -> None:
    # Found by a fresh-user trial: `?specialty=%ff` was a 200, the filter silently U+FFFD.
    resp = await client.get(URL(f"/postings?{query}", encoded=True))
    assert resp.status == 400
    errors = (await resp.json())["errors"]
    assert {"field": field, "message": "must be UTF-8 text"} in errors
    assert all(e["message"] == "must be UTF-8 text" for e in errors)
    # A U+FFFD the client really sent is UTF-8 (EF BF BD): it passes this check.
    resp = await client.get(URL("/postings?specialty=%ef%bf%bd%20ok+x", encoded=True))
    assert await resp.json() == {"specialty": "\ufffd ok x", "note": None}


@pytest.mark.parametrize("value", ["\u0000", "\u200b", "a\nb", "\u202eevil", "\u0301"])
async def test_a_query_value_breaking_the_rule_is_400_naming_the_parameter(
    client: TestClient, value: str
) -> None:
    # Found by a fresh-user trial: `?specialty=%00` was answered 200, the same value in a body 400.
    errors = await field_errors(await client.get("/postings", params={"specialty": value}))
    assert errors == [{"field": "specialty", "message": text_error(value)}]
    resp = await client.get("/postings", params={"specialty": "Critical Care", "note": "a\nb"})
    assert await resp.json() == {"specialty": "Critical Care", "note": "a\nb"}
