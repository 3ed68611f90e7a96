"""Errors, grouped by what the caller should do.

::

    TciError
    ├── ConfigError                 fix the configuration (exit status 2)
    │   └── LedgerUnavailableError  the ledger cannot be opened (URL shown without
    │                               its password, and the cause)
    ├── InputError                  fix the file: carries a list of RecordError (exit 2)
    └── AdapterError                a call to an insurer or bureau failed
        ├── TransientError          retry later (the retry policy already tried)
        │   ├── RateLimitedError    429, with ``retry_after`` seconds when given
        │   └── CallTimeoutError    the call's overall deadline passed
        ├── AmbiguousOutcomeError   a non-idempotent call may or may not have been
        │   │                       applied: reconcile by client reference, never resend
        │   └── InProgressError     "a request is already in progress": it may be ours,
        │                           so look it up by reference; never a refusal
        ├── AuthError               credentials refused: fatal until reconfigured
        ├── RejectedError           the request itself was refused (400/404/409/422):
        │   └── NotFoundError       skip this record, report it
        └── ProtocolError           the answer could not be understood (HTML page,
                                    malformed JSON, missing fields): fatal for this call

Every :class:`AdapterError` carries ``adapter``, ``status``, ``request_id``,
``correlation_id``, ``code`` and a bounded ``body`` as fields, never only a string.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class TciError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(TciError):
    """The configuration is missing, malformed or inconsistent."""


class LedgerUnavailableError(ConfigError):
    """The ledger cannot be opened (no file, unwritable, server not answering, login
    refused, database missing). The message names the URL with its password hidden and
    the cause."""


@dataclass(frozen=True, slots=True)
class RecordError:
    """One bad record in a file or batch: where it is and why it was refused."""

    source: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.source
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column!r}"
        return f"{where}: {self.reason}"


class InputError(TciError):
    """A file or argument was refused; nothing of it was written."""

    def __init__(self, errors: list[RecordError]) -> None:
        self.errors = errors
        first = str(errors[0]) if errors else "bad input"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first + more)


_BODY_LIMIT = 2000


@dataclass(eq=False)
class AdapterError(TciError):
    """A failed call to an insurer or bureau API."""

    message: str
    adapter: str = ""
    status: int | None = None
    code: str | None = None
    request_id: str | None = None
    correlation_id: str | None = None
    body: str | None = None
    details: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.body is not None and len(self.body) > _BODY_LIMIT:
            self.body = self.body[:_BODY_LIMIT] + "…"
        Exception.__init__(self, self.message)

    def __str__(self) -> str:
        parts = [f"{self.adapter}: {self.message}" if self.adapter else self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(f"code {self.code}")
        if self.correlation_id:
            parts.append(f"correlation id {self.correlation_id}")
        return " | ".join(parts)


@dataclass(eq=False)
class TransientError(AdapterError):
    """Temporary: connection failures, timeouts, 408/425/429/502/503/504.

    ``retry_after`` is the wait in seconds the server asked for (``Retry-After``), if any.
    """

    retry_after: float | None = None


@dataclass(eq=False)
class RateLimitedError(TransientError):
    """429 Too Many Requests, with ``retry_after`` seconds when given."""


@dataclass(eq=False)
class CallTimeoutError(TransientError):
    """The call's overall deadline passed."""


@dataclass(eq=False)
class AmbiguousOutcomeError(AdapterError):
    """A non-idempotent request may have been applied. Look it up by client reference
    before sending it again."""

    client_reference: str | None = None


@dataclass(eq=False)
class InProgressError(AmbiguousOutcomeError):
    """The insurer answered that a request is already in progress for this buyer (or
    with this client reference). It may be ours, stored by an earlier attempt: look the
    reference up; when the insurer has no record of it, ours was not taken and is sent
    again later. Never a refusal."""

    @classmethod
    def of(cls, refusal: AdapterError, client_reference: str | None) -> InProgressError:
        """The same answer (status, code, ids, body) read as "in progress"."""
        return cls(
            refusal.message,
            adapter=refusal.adapter,
            status=refusal.status,
            code=refusal.code,
            request_id=refusal.request_id,
            correlation_id=refusal.correlation_id,
            body=refusal.body,
            details=list(refusal.details),
            client_reference=client_reference,
        )


@dataclass(eq=False)
class AuthError(AdapterError):
    """Credentials were refused (after one token refresh)."""


@dataclass(eq=False)
class RejectedError(AdapterError):
    """The insurer refused this request; other records can go on."""


@dataclass(eq=False)
class NotFoundError(RejectedError):
    """The insurer does not know the thing asked for."""


@dataclass(eq=False)
class ProtocolError(AdapterError):
    """The answer was not what the API's contract says (HTML, bad JSON, missing field)."""
