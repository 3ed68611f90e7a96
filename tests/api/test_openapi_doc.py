"""The OpenAPI document: the committed ``docs/openapi.json`` is the one the code generates
(regenerate with ``tci openapi --output docs/openapi.json``), it is OpenAPI 3.1, every /v1
route but the insurer hooks is behind the bearer scheme, and every error is declared as a
problem document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tci_gateway.api.openapi import render
from tci_gateway.api.problems import PROBLEM_MEDIA_TYPE
from tci_gateway.cli.openapi import build_document
from tests.api.conftest import ApiHarness

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "patch")
UNAUTHENTICATED = ("/healthz", "/readyz", "/metrics", "/v1/hooks/")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, item[method])
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]


def test_the_committed_document_is_current(document: dict[str, Any]) -> None:
    assert COMMITTED.is_file(), (
        "docs/openapi.json is missing: run `tci openapi -o docs/openapi.json`"
    )
    committed = COMMITTED.read_text(encoding="utf-8")
    assert committed == render(document), (
        "docs/openapi.json is stale: run `tci openapi --output docs/openapi.json` and commit it"
    )


def test_the_document_is_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"] == "tci-gateway"
    assert any(path.startswith("/v1/") for path in document["paths"])


def test_every_v1_route_but_the_hooks_needs_the_bearer_key(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    bearer = [name for name, s in schemes.items() if s == {**s, "type": "http", "scheme": "bearer"}]
    assert bearer, schemes
    missing, unexpected = [], []
    for method, path, operation in operations(document):
        secured = any(
            set(requirement) & set(bearer) for requirement in operation.get("security", [])
        )
        open_route = path.startswith(UNAUTHENTICATED) or path in UNAUTHENTICATED
        if path.startswith("/v1/") and not open_route and not secured:
            missing.append(f"{method} {path}")
        if open_route and secured:
            unexpected.append(f"{method} {path}")
    assert not missing, f"/v1 routes without the bearer scheme: {missing}"
    assert not unexpected, f"routes that must answer without a key: {unexpected}"


def test_every_error_is_a_problem_document(document: dict[str, Any]) -> None:
    wrong = []
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if status[0] not in "45":
                continue
            content = response.get("content", {})
            if list(content) != [PROBLEM_MEDIA_TYPE] or content[PROBLEM_MEDIA_TYPE]["schema"] != {
                "$ref": "#/components/schemas/ProblemDetail"
            }:
                wrong.append(f"{method} {path} {status}: {sorted(content)}")
    assert not wrong, f"errors not declared as application/problem+json: {wrong}"
    assert "HTTPValidationError" not in json.dumps(document)
    assert "ProblemDetail" in document["components"]["schemas"]


def test_secured_routes_declare_the_auth_problems(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if operation.get("security"):
            declared = set(operation["responses"])
            assert {"401", "403", "429"} <= declared, f"{method} {path}: {sorted(declared)}"
            assert "Retry-After" in operation["responses"]["429"].get("headers", {})


def test_every_operation_has_a_unique_id_and_a_summary(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    undocumented = [
        f"{method} {path}"
        for method, path, operation in operations(document)
        if not operation.get("description")
    ]
    assert not undocumented, f"operations without a docstring: {undocumented}"


def test_the_service_serves_the_generated_document(api: ApiHarness) -> None:
    """The configuration (here the sandbox's) does not change the document."""
    served = api.client.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(render(build_document()))


test_the_service_serves_the_generated_document.sqlite_only = True  # type: ignore[attr-defined]


def test_a_405_allows_every_method_the_document_declares_at_the_path(
    api: ApiHarness, document: dict[str, Any]
) -> None:
    """Starlette's own 405 names only the first route's methods (GET and POST of one path
    are two routes); the answer names every documented one."""
    several = [
        (path, {m.upper() for m in item if m in METHODS})
        for path, item in document["paths"].items()
        if len([m for m in item if m in METHODS]) > 1
    ]
    assert several, "no path with several methods to check"
    for path, methods in several:
        concrete = path.replace("{", "").replace("}", "")  # any value: routing answers 405
        response = api.client.request("PATCH", concrete)
        assert response.status_code == 405, (path, response.text)
        assert set(response.headers["Allow"].split(", ")) == methods, path
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE


test_a_405_allows_every_method_the_document_declares_at_the_path.sqlite_only = True  # type: ignore[attr-defined]


# Integer parameters checked in code rather than by a declared maximum (a 400 naming the
# cursor), with the reason.
CHECKED_IN_CODE = {("GET", "/v1/limits", "changed_since"): "compared with the ledger's cursor"}


def _integer_schemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    found = [schema] if schema.get("type") == "integer" else []
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, []):
            found += _integer_schemas(option)
    return found


def test_every_integer_parameter_is_bounded(document: dict[str, Any]) -> None:
    """An unbounded integer reaches PostgreSQL as an out-of-range parameter (a 500 there,
    though SQLite takes it): each must declare a maximum, or be checked in code."""
    unbounded = []
    for method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            for schema in _integer_schemas(parameter.get("schema", {})):
                if "maximum" not in schema and (method, path, parameter["name"]) not in (
                    CHECKED_IN_CODE
                ):
                    unbounded.append(f"{method} {path} {parameter['name']}")
    assert not unbounded, f"integer parameters without a maximum: {unbounded}"


def _is_text(schema: dict[str, Any]) -> bool:
    if schema.get("type") in ("string", "array"):
        return True
    return any(_is_text(option) for option in schema.get("anyOf", []))


def _is_integer(schema: dict[str, Any]) -> bool:
    return bool(_integer_schemas(schema))


def test_hostile_parameter_values_never_answer_5xx(
    api: ApiHarness, document: dict[str, Any]
) -> None:
    """A NUL byte in a text parameter and an integer beyond 64 bits, in every path and
    query parameter of every operation: PostgreSQL refuses both as SQL parameters (a 500
    unless the route refuses them first), SQLite takes them. Nothing may answer 5xx."""
    headers = api.key("admin")
    failures = []
    for method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            if parameter["in"] not in ("path", "query"):
                continue
            if _is_text(schema):
                hostile = "a%00b"
            elif _is_integer(schema):
                hostile = "99999999999999999999"
            else:
                continue
            url = path
            for other in operation["parameters"]:
                if other["in"] == "path":
                    value = hostile if other is parameter else "1"
                    url = url.replace("{" + other["name"] + "}", value)
            if parameter["in"] == "query":
                url += f"?{parameter['name']}={hostile}"
            response = api.client.request(
                method,
                url,
                headers={**headers, "Idempotency-Key": f"hostile-{len(failures)}-{url}"[:255]},
                json={} if method == "POST" else None,
            )
            if response.status_code >= 500:
                failures.append(f"{method} {url}: {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)
