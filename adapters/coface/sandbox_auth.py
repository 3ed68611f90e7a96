"""The sandbox's login and token checks, with Coface's account lockout.

Login (``POST`` token path): the API key first (a wrong one is the API Gateway's 403
``{"message": "Forbidden"}``, and does not count as a failed login), then the grant
type, then the lock, then user name and password. A wrong password answers 401
``NOT_AUTHORIZED``. After ``lockout_after`` (5) failed logins in a row the account is
locked: 1 s, then twice as long after each further failure, at most ``lockout_max``
(900 s, "about 15 minutes"); while it is locked every login, even a right one, answers
401 ``PASSWORD_ATTEMPTS_EXCEEDED`` and does not count. A successful login resets the
count. (Reference: H for the rule, AWS Cognito's messages for the wording.)

Tokens live ``token_ttl`` seconds; an API call with an expired token answers 401
``{"message": "The incoming token has expired"}``, as a Cognito authorizer does.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from .sandbox_http import Refused, json_body, ok

CREDENTIAL_NAMES = ("username", "password", "api_key")
API_KEY_HEADER = "x-api-key"


class LoginGuard:
    """Credentials, failed-login count, lock and issued tokens."""

    def __init__(
        self,
        credentials: Mapping[str, str],
        clock: Callable[[], datetime],
        *,
        token_ttl: int = 3600,
        lockout_after: int = 5,
        lockout_max: float = 900,
    ) -> None:
        self.credentials = credentials
        self.clock = clock
        self.token_ttl = int(token_ttl)
        self.lockout_after = int(lockout_after)
        self.lockout_max = float(lockout_max)
        self.failures = 0
        self.locked_until: datetime | None = None
        self.tokens: dict[str, datetime] = {}

    def _same(self, given: str, name: str) -> bool:
        return secrets.compare_digest(given.encode(), self.credentials[name].encode())

    def check_api_key(self, request: httpx.Request) -> None:
        """Refuse a missing or wrong API key as the API Gateway does (403)."""
        if not self._same(request.headers.get(API_KEY_HEADER, ""), "api_key"):
            raise Refused(403, "FORBIDDEN", "Forbidden", gateway=True)

    def locked_for(self) -> float:
        """Seconds the account stays locked (0 when it is not)."""
        if self.locked_until is None:
            return 0.0
        return max(0.0, (self.locked_until - self.clock()).total_seconds())

    def login(self, request: httpx.Request) -> httpx.Response:
        """Serve the token call."""
        self.check_api_key(request)
        body = json_body(request, ("username", "password"))
        grant = body.get("grant_type", body.get("grantType"))
        if grant != "password":
            raise Refused(400, "UNSUPPORTED_GRANT_TYPE", "grant_type must be password")
        remaining = self.locked_for()
        if remaining > 0:
            raise Refused(
                401,
                "PASSWORD_ATTEMPTS_EXCEEDED",
                "Password attempts exceeded",
                [{"field": "username", "message": f"locked for {remaining:.0f} more s"}],
            )
        user = str(body["username"])
        password = str(body["password"])
        if not (self._same(user, "username") and self._same(password, "password")):
            self._failed()
            raise Refused(401, "NOT_AUTHORIZED", "Incorrect username or password.")
        self.failures = 0
        self.locked_until = None
        return ok(200, self._issue())

    def _failed(self) -> None:
        self.failures += 1
        if self.failures >= self.lockout_after:
            seconds = min(2.0 ** (self.failures - self.lockout_after), self.lockout_max)
            self.locked_until = self.clock() + timedelta(seconds=seconds)

    def _issue(self) -> dict[str, Any]:
        now = self.clock()
        self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now}
        id_token = "eyJsandbox." + secrets.token_urlsafe(24)
        self.tokens[id_token] = now + timedelta(seconds=self.token_ttl)
        return {
            "idToken": id_token,
            "accessToken": "eyJaccess." + secrets.token_urlsafe(24),
            "refreshToken": "eyJrefresh." + secrets.token_urlsafe(24),
            "expiresIn": self.token_ttl,
            "tokenType": "Bearer",
        }

    def check_token(self, request: httpx.Request) -> None:
        """Refuse an API call without a valid ``Authorization: <idToken>`` (a
        ``Bearer`` prefix is tolerated) or with a wrong API key."""
        self.check_api_key(request)
        value = request.headers.get("Authorization", "").strip()
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        expires = self.tokens.get(value)
        if expires is None:
            raise Refused(401, "UNAUTHORIZED", "Unauthorized", gateway=True)
        if expires <= self.clock():
            raise Refused(401, "UNAUTHORIZED", "The incoming token has expired", gateway=True)
