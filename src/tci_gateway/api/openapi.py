"""The OpenAPI document: FastAPI's, finished so that it says what the service answers.

:func:`install` makes ``/openapi.json`` (and ``/docs``) serve the finished document;
``tci openapi`` (:mod:`tci_gateway.cli.openapi`) writes the same document, built without a
ledger or a configuration, to the committed ``docs/openapi.json`` (a test fails when that
file is stale).

What finishing adds, for every operation:

* a validation failure is a 422 problem document (``application/problem+json`` with the
  bad fields), not FastAPI's default ``HTTPValidationError`` JSON;
* an operation behind the bearer scheme may answer 401 (no valid key), 403 (no scope),
  429 (rate limit, with ``Retry-After``) and 503 (ledger unavailable or busy), so those
  are declared when a route did not declare them itself;
* an operation that takes a body may answer 413 (above ``[api] max_body_bytes``);
* the ``ProblemDetail`` schema those answers refer to is in ``components``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from tci_gateway.api.problems import PROBLEM_MEDIA_TYPE, ProblemDetail, problem_responses

_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_SECURED = (401, 403, 429, 503)
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}


def install(app: FastAPI) -> None:
    """Serve the finished document at ``app.openapi_url``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            finish(generate())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """Finish FastAPI's ``document`` in place (see the module's docstring); answers it."""
    for item in document.get("paths", {}).values():
        for method in _METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                _finish_operation(operation)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    text = json.dumps(document["paths"])
    if '"#/components/schemas/ProblemDetail"' in text:
        problem = ProblemDetail.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, schema in problem.pop("$defs", {}).items():
            schemas.setdefault(name, schema)
        schemas.setdefault("ProblemDetail", problem)
    for name in _FASTAPI_VALIDATION:
        if f'"#/components/schemas/{name}"' not in text:
            schemas.pop(name, None)
    return document


def _finish_operation(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    invalid = responses.get("422")
    if invalid is not None and PROBLEM_MEDIA_TYPE not in invalid.get("content", {}):
        responses["422"] = _problem(422)
    wanted: list[int] = []
    if operation.get("security"):
        wanted.extend(_SECURED)
    if "requestBody" in operation:
        wanted.append(413)
    for status in wanted:
        responses.setdefault(str(status), _problem(status))
    limited = responses.get("429")
    if limited is not None and PROBLEM_MEDIA_TYPE in limited.get("content", {}):
        limited.setdefault("headers", dict(_RETRY_AFTER))
    operation["responses"] = dict(sorted(responses.items(), key=lambda item: item[0]))


def _problem(status: int) -> dict[str, Any]:
    return problem_responses(status)[status]


def render(document: dict[str, Any]) -> str:
    """The document as committed: indented JSON, keys in FastAPI's order, one final
    newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
