"""The HTTP client every adapter builds on.

An adapter subclasses :class:`ApiClient` and overrides a few hooks:

* :meth:`ApiClient.parse_error` reads the API's own error envelope into fields;
* :meth:`ApiClient.validate_response` raises for errors hidden in 2xx bodies;
* ``correlation_header`` says how calls are traced; the ``auth`` (an :class:`httpx.Auth`,
  see :mod:`tci_gateway.adapters.auth`) how they are signed.

An adapter builds its client with :meth:`ApiClient.from_context` (its auth and the
context's URL, transport, timeouts and retry policy): subclasses need no ``__init__``.
Headers for one call only go in ``request(..., headers=...)``. An answer too large to
hold (one unpaged list) is read as it arrives with :meth:`ApiClient.read_array`.

Every call has a correlation id (sent and logged), connect/read/write/pool timeouts and
an overall deadline that also stops a server trickling its answer. Redirects are not
followed, proxies from the environment are not trusted, TLS is verified. Failures become
the error classes of :mod:`tci_gateway.errors`, retried per :mod:`tci_gateway.http.retry`.
JSON is parsed with ``parse_float=Decimal``: no amount passes through a float.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Self, TypeVar

import httpx

from tci_gateway import __version__
from tci_gateway.errors import (
    AdapterError,
    AmbiguousOutcomeError,
    AuthError,
    CallTimeoutError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from tci_gateway.http.auth import TOKEN_ERROR, TOKEN_REQUEST
from tci_gateway.http.calls import ApiResponse as ApiResponse
from tci_gateway.http.calls import ClientContext as ClientContext
from tci_gateway.http.calls import ParsedError as ParsedError
from tci_gateway.http.calls import StopAtDeadline
from tci_gateway.http.calls import Timeouts as Timeouts
from tci_gateway.http.jsonexact import dumps, loads
from tci_gateway.http.jsonstream import Element
from tci_gateway.http.observers import call_failed
from tci_gateway.http.retry import NOT_PROCESSED_STATUSES, RetryPolicy, parse_retry_after
from tci_gateway.http.streamed import StreamedArray
from tci_gateway.logs import get_logger

T = TypeVar("T")
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MAX_RESPONSE_BYTES = 200 * 1024 * 1024
_DROP_HEADERS = ("content-encoding", "transfer-encoding", "content-length")


class ApiClient:
    """Base client: hooks for adapters, retries, deadlines and error mapping."""

    correlation_header = "X-Correlation-Id"
    request_id_header = "X-Request-Id"

    def __init__(
        self,
        *,
        adapter: str,
        base_url: str,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """A client for ``base_url``; calls are signed by ``auth`` (none: unsigned)."""
        self.adapter = adapter
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy(deadline=self.timeouts.deadline)
        self.clock = clock
        self.log = get_logger(adapter=adapter)
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            follow_redirects=False,
            trust_env=False,
            verify=True,
            headers={"User-Agent": f"tci-gateway/{__version__}", "Accept": "application/json"},
            auth=auth,
        )

    @classmethod
    def from_context(cls, context: ClientContext, *, auth: httpx.Auth | None = None) -> Self:
        """The standard constructor: the adapter's name, base URL, transport, timeouts
        and retry policy from its context, signed by ``auth``."""
        return cls(
            adapter=context.name,
            base_url=context.base_url,
            auth=auth,
            transport=context.transport,
            timeouts=context.timeouts,
            retry=context.retry,
        )

    # -- hooks ---------------------------------------------------------------------

    def parse_error(self, response: httpx.Response) -> ParsedError:
        """The error answer's body as JSON, read by :meth:`read_error_envelope`; the
        reason phrase when the body is not JSON."""
        fallback = response.reason_phrase or f"HTTP {response.status_code}"
        try:
            payload = loads(response.content)
        except (ValueError, UnicodeDecodeError):
            return ParsedError(message=fallback)
        return self.read_error_envelope(payload, fallback)

    def read_error_envelope(self, payload: Any, fallback: str) -> ParsedError:
        """Hook: the API's own error envelope into fields. The default keeps ``fallback``
        (the reason phrase)."""
        return ParsedError(message=fallback)

    def validate_response(self, response: httpx.Response, payload: Any) -> None:
        """Raise for an error inside a successful answer. The default accepts all."""

    # -- helpers for the hooks -------------------------------------------------------------

    def answer_context(self, response: httpx.Response) -> dict[str, Any]:
        """The fields of an error about ``response``: adapter, status, correlation id, body."""
        return {
            "adapter": self.adapter,
            "status": response.status_code,
            "correlation_id": response.request.headers.get(self.correlation_header),
            "body": response.text,
        }

    def refuse_embedded_error(self, response: httpx.Response, payload: Any, member: str) -> None:
        """For :meth:`validate_response`: a JSON object answer with a non-empty ``member``
        carries an error envelope in a 2xx: a :class:`RejectedError` read with
        :meth:`read_error_envelope` (a :class:`ProtocolError` when it cannot be read)."""
        if not isinstance(payload, dict) or not payload.get(member):
            return
        ctx = self.answer_context(response)
        try:
            parsed = self.read_error_envelope(payload, "error in a successful answer")
        except ValueError:
            raise ProtocolError(f"unreadable {member} in a successful answer", **ctx) from None
        raise RejectedError(parsed.message, code=parsed.code, details=parsed.details, **ctx)

    # -- public --------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
        client_reference: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """Send one logical call, with retries per the retry table, and parse its JSON.
        ``headers`` go on this call only (never on a token request)."""
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        body = None if json_body is None else dumps(json_body).encode()

        def attempt(correlation_id: str, deadline_at: float, number: int) -> ApiResponse:
            return self._attempt(
                method,
                path,
                params,
                body,
                idempotent,
                correlation_id,
                deadline_at,
                number,
                client_reference,
                headers or {},
            )

        return self._with_retries(attempt)

    def read_array(
        self,
        path: str,
        consume: Callable[[Iterator[Element]], T],
        *,
        member: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> T:
        """``GET path``: a JSON array, or an object whose ``member`` is one (see
        :mod:`tci_gateway.http.jsonstream`), read as it arrives. ``consume`` gets the
        elements one by one; what it returns is returned. Only the element being read is
        held, whatever the size of the answer.

        Retried as :meth:`request` is, a connection lost in the middle of the body
        included: ``consume`` is then called again on the new answer (it must start
        afresh on each call). The body is read to its end before this returns: cut
        short or malformed, it is a :class:`ProtocolError`, never a partial result;
        :meth:`validate_response` gets the answer without its elements (``[]``)."""

        def attempt(correlation_id: str, deadline_at: float, number: int) -> T:
            request = self._build("GET", path, params, None, correlation_id, {})
            started = self.clock()
            streamed = self._open(request, True, deadline_at, correlation_id, None)
            self._log_call(request, path, streamed.status_code, started, number)
            ctype = streamed.headers.get("content-type", "")
            if streamed.status_code >= 300 or "html" in ctype:
                answer = self._read_whole(streamed, True, deadline_at, correlation_id, None)
                self._check(answer, True, correlation_id, None)  # raises
                raise ProtocolError("an answer that is not an array", adapter=self.adapter)
            chunks = self._body(streamed, True, deadline_at, correlation_id, None)
            ctx = {"status": streamed.status_code, "correlation_id": correlation_id}
            reading = StreamedArray(chunks, member, adapter=self.adapter, **ctx)
            try:
                result = reading.consume(consume)
            finally:
                streamed.close()
            answer = _rebuilt(streamed, dumps(reading.payload).encode())
            self.validate_response(answer, reading.payload)
            reading.check_found()
            return result

        return self._with_retries(attempt)

    def close(self) -> None:
        self._http.close()

    # -- internals -----------------------------------------------------------------

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: bytes | None,
        idempotent: bool,
        correlation_id: str,
        deadline_at: float,
        attempt: int,
        client_reference: str | None,
        extra_headers: Mapping[str, str],
    ) -> ApiResponse:
        request = self._build(method, path, params, body, correlation_id, extra_headers)
        started = self.clock()
        response = self._send(request, idempotent, deadline_at, correlation_id, client_reference)
        self._log_call(request, path, response.status_code, started, attempt)
        return self._check(response, idempotent, correlation_id, client_reference)

    def _with_retries(self, attempt: Callable[[str, float, int], T]) -> T:
        """One logical call: ``attempt(correlation_id, deadline_at, number)`` per the
        retry table, within the call's deadline."""
        correlation_id = str(uuid.uuid4())
        deadline_at = self.clock() + self.timeouts.deadline
        retrying = self.retry.retrying()
        retrying = retrying.copy(stop=StopAtDeadline(retrying.stop, self.clock, deadline_at))
        for number, retry_attempt in enumerate(retrying, start=1):
            with retry_attempt:
                try:
                    return attempt(correlation_id, deadline_at, number)
                except AdapterError as exc:  # every failed attempt is counted (GET /metrics)
                    call_failed(exc)
                    raise
        raise AdapterError("retry loop ended without a result", adapter=self.adapter)

    def _build(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: bytes | None,
        correlation_id: str,
        extra_headers: Mapping[str, str],
    ) -> httpx.Request:
        headers = {self.correlation_header: correlation_id}
        if body is not None:
            headers["Content-Type"] = "application/json"
        headers.update(extra_headers)
        request = self._http.build_request(
            method, path, params=params, content=body, headers=headers
        )
        request.extensions[TOKEN_ERROR] = self._token_error
        return request

    def _log_call(
        self, request: httpx.Request, path: str, status: int, started: float, attempt: int
    ) -> None:
        self.log.debug(
            "http_call",
            method=request.method,
            path=path,
            status=status,
            ms=round((self.clock() - started) * 1000),
            correlation_id=request.headers.get(self.correlation_header),
            attempt=attempt,
        )

    def _timeout(self, deadline_at: float) -> httpx.Timeout:
        remaining = deadline_at - self.clock()
        if remaining <= 0:
            raise CallTimeoutError("call deadline passed", adapter=self.adapter)
        read = min(self.timeouts.read, remaining)
        return httpx.Timeout(
            connect=min(self.timeouts.connect, remaining), read=read, write=read, pool=read
        )

    def _send(
        self,
        request: httpx.Request,
        idempotent: bool,
        deadline_at: float,
        correlation_id: str,
        client_reference: str | None,
    ) -> httpx.Response:
        streamed = self._open(request, idempotent, deadline_at, correlation_id, client_reference)
        return self._read_whole(streamed, idempotent, deadline_at, correlation_id, client_reference)

    def _open(
        self,
        request: httpx.Request,
        idempotent: bool,
        deadline_at: float,
        correlation_id: str,
        client_reference: str | None,
    ) -> httpx.Response:
        """Send ``request``; the answer's status and headers, its body still to read."""
        request.extensions["timeout"] = self._timeout(deadline_at).as_dict()
        ctx: dict[str, Any] = {"adapter": self.adapter, "correlation_id": correlation_id}
        try:
            return self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            if _during_token_request(exc):  # the call itself was not sent
                reason = f"token request failed: {type(exc).__name__}"
                raise TransientError(reason, adapter=self.adapter) from exc
            if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
                raise TransientError(f"could not connect: {type(exc).__name__}", **ctx) from exc
            raise self._after_send_failure(exc, idempotent, ctx, client_reference) from exc

    def _body(
        self,
        streamed: httpx.Response,
        idempotent: bool,
        deadline_at: float,
        correlation_id: str,
        client_reference: str | None,
    ) -> Iterator[bytes]:
        """The body of an answer :meth:`_open` gave, chunk by chunk, within the call's
        deadline; a failure on the way is the error of an answer lost."""
        ctx: dict[str, Any] = {"adapter": self.adapter, "correlation_id": correlation_id}
        try:
            for chunk in streamed.iter_bytes():
                yield chunk
                if self.clock() > deadline_at:
                    raise CallTimeoutError("call deadline passed while reading the answer", **ctx)
        except CallTimeoutError as exc:
            if idempotent:
                raise
            raise self._after_send_failure(exc, idempotent, ctx, client_reference) from exc
        except httpx.HTTPError as exc:
            raise self._after_send_failure(exc, idempotent, ctx, client_reference) from exc

    def _read_whole(
        self,
        streamed: httpx.Response,
        idempotent: bool,
        deadline_at: float,
        correlation_id: str,
        client_reference: str | None,
    ) -> httpx.Response:
        """The answer with its whole body read (at most :data:`MAX_RESPONSE_BYTES`)."""
        try:
            chunks: list[bytes] = []
            size = 0
            for chunk in self._body(
                streamed, idempotent, deadline_at, correlation_id, client_reference
            ):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise ProtocolError(
                        "response larger than the client accepts",
                        adapter=self.adapter,
                        correlation_id=correlation_id,
                    )
        finally:
            streamed.close()
        return _rebuilt(streamed, b"".join(chunks))

    def _after_send_failure(
        self,
        exc: Exception,
        idempotent: bool,
        ctx: dict[str, Any],
        client_reference: str | None,
    ) -> AdapterError:
        reason = f"no complete answer: {type(exc).__name__}"
        if idempotent:
            return TransientError(reason, **ctx)
        return AmbiguousOutcomeError(
            f"{reason}; the request may have been applied", client_reference=client_reference, **ctx
        )

    def _token_error(self, response: httpx.Response) -> AdapterError:
        """A failed token reply (for the auth, through the :data:`TOKEN_ERROR` extension):
        400/401/403 are refused credentials, read with :meth:`parse_error`; any other
        status maps as an idempotent call's would (a 503 is retried)."""
        if response.status_code in (400, 401, 403):
            parsed = self.parse_error(response)
            return AuthError(
                f"credentials refused: {parsed.message}",
                status=response.status_code,
                code=parsed.code,
                adapter=self.adapter,
            )
        return self._status_error(response, True, "", None)

    def _check(
        self,
        response: httpx.Response,
        idempotent: bool,
        correlation_id: str,
        client_reference: str | None,
    ) -> ApiResponse:
        status = response.status_code
        request_id = response.headers.get(self.request_id_header)
        if status >= 300:
            raise self._status_error(response, idempotent, correlation_id, client_reference)
        payload = self.parse_json(response, correlation_id)
        self.validate_response(response, payload)
        return ApiResponse(status, payload, response.headers, correlation_id, request_id)

    def parse_json(self, response: httpx.Response, correlation_id: str = "") -> Any:
        """The body as JSON (``None`` when empty); HTML or malformed JSON is a
        :class:`ProtocolError`."""
        content = response.content
        if not content.strip():
            return None
        ctype = response.headers.get("content-type", "")
        ctx: dict[str, Any] = {
            "adapter": self.adapter,
            "status": response.status_code,
            "correlation_id": correlation_id,
        }
        if "html" in ctype or content.lstrip()[:1] == b"<":
            raise ProtocolError("an HTML page came back instead of JSON", body=response.text, **ctx)
        try:
            return loads(content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError(f"malformed JSON: {exc}", body=response.text, **ctx) from exc

    def _status_error(
        self,
        response: httpx.Response,
        idempotent: bool,
        correlation_id: str,
        client_reference: str | None,
    ) -> AdapterError:
        status = response.status_code
        try:
            parsed = self.parse_error(response)
        except Exception:  # an unreadable error body must not hide the status
            parsed = ParsedError(message=f"HTTP {status}")
        ctx: dict[str, Any] = {
            "adapter": self.adapter,
            "status": status,
            "code": parsed.code,
            "details": parsed.details,
            "correlation_id": correlation_id or None,
            "request_id": response.headers.get(self.request_id_header) or parsed.request_id,
            "body": response.text,
        }
        message = parsed.message
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if 300 <= status < 400:
            target = response.headers.get("Location", "?")
            return ProtocolError(f"redirect to {target} not followed", **ctx)
        if status == 429:
            return RateLimitedError(message, retry_after=retry_after, **ctx)
        if status in NOT_PROCESSED_STATUSES:
            return TransientError(message, retry_after=retry_after, **ctx)
        if status in (401, 403):
            return AuthError(message, **ctx)
        if status == 404:
            return NotFoundError(message, **ctx)
        if 400 <= status < 500 and status != 408:
            return RejectedError(message, **ctx)
        if not idempotent:
            return AmbiguousOutcomeError(message, client_reference=client_reference, **ctx)
        return TransientError(message, retry_after=retry_after, **ctx)


def _rebuilt(streamed: httpx.Response, content: bytes) -> httpx.Response:
    """A streamed answer as a plain one with ``content`` for its body."""
    kept = [(k, v) for k, v in streamed.headers.multi_items() if k.lower() not in _DROP_HEADERS]
    return httpx.Response(
        streamed.status_code, headers=kept, content=content, request=streamed.request
    )


def _during_token_request(exc: httpx.HTTPError) -> bool:
    """Whether ``exc`` came from a token request an authenticator sent."""
    try:
        return bool(exc.request.extensions.get(TOKEN_REQUEST))
    except RuntimeError:  # an error raised without its request
        return False
