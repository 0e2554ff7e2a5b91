"""The REST API, fuzzed against its own OpenAPI document by schemathesis.

A real server on loopback serves a scratch project with a few runs in its history;
every documented operation gets valid and invalid requests, sent with the server's
Origin as its own pages send them. No response may be a server error, or have a status,
content type or body the document does not state. The fuzz is deterministic (the same
examples on every machine) and bounded per operation and in total.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from labdeck import Deck
from tests.helpers import http_session, origin_of, scaled

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 30
BUDGET = 60.0
"""Seconds (scaled) for the whole fuzz; operations left when it runs out are reported (the admin's
twelve operations made 40 s too short on a busy machine)."""


def fuzz(url: str, *, paths: tuple[str, ...] = ("/",), examples: int = EXAMPLES,
         budget: float = BUDGET) -> tuple[int, list[str]]:
    """Fuzz every operation of the server at ``url`` whose path starts with one of ``paths``;
    how many were fuzzed, and the operations the (scaled) ``budget`` in seconds left out."""
    schema = schemathesis.openapi.from_url(url + "api/openapi.json")
    headers = {"Origin": origin_of(url)}
    deadline = time.monotonic() + scaled(budget)
    done, skipped = 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith(paths):
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if time.monotonic() > deadline:
                skipped.append(f"{operation.label} ({mode.value})")
                continue

            @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=url.rstrip("/"), headers=headers, checks=CHECKS, timeout=scaled(10))

            try:
                check()
            except Unsatisfiable:
                # an operation without parameters or body has nothing to make invalid
                assert mode is GenerationMode.NEGATIVE, operation.label
        done += 1
    return done, skipped


@pytest.mark.timeout(scaled(BUDGET + 30))
async def test_every_operation_keeps_to_its_openapi_document(lab: Deck) -> None:
    _, skipped = await asyncio.to_thread(fuzz, lab.url)
    assert not skipped, f"the fuzz ran out of time before {', '.join(skipped)}"


async def test_the_document_states_every_constraint_and_error(lab: Deck) -> None:
    async with http_session(lab.url) as http, http.get(lab.url + "api/openapi.json") as resp:
        doc = await resp.json()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            for param in op["parameters"]:
                assert "required" in param and param["schema"]["type"], (where, param["name"])
                if param["schema"]["type"] == "integer":
                    assert {"minimum", "maximum"} <= set(param["schema"]), (where, param["name"])
            assert {"414", "421", "503"} <= set(op["responses"]), where
            assert [code for code in op["responses"] if code.startswith("2")], where
            if method in ("post", "delete"):
                assert "403" in op["responses"], where
    assert doc["paths"]["/api/runs/prune"]["post"]["parameters"][0]["required"] is True


async def test_an_api_address_without_a_route_gets_the_json_error_body(lab: Deck) -> None:
    async with http_session(lab.url) as http:
        for method, path in (("GET", "api/nothing"), ("GET", "api/runs/-1"), ("GET", "api/runs/x/log"),
                             ("PUT", "api/runs/1")):
            async with http.request(method, lab.url + path) as resp:
                assert resp.status in (404, 405), path
                body = await resp.json()
                assert set(body["error"]) == {"type", "message"}, path
        async with http.get(lab.url + "no/such/page") as resp:
            assert resp.status == 404 and resp.content_type == "text/html"  # the error page
