"""Convene's test controls from Python: faults, latency and the meeting clock.

The server must run with ``--test-controls``. Nothing here needs more than the
standard library.

    from convene.faults import fault

    with fault(convene, operation="CreateAttendee", code="ThrottlingException", count=2):
        my_app.add_attendee(...)        # must retry twice to succeed

``convene`` is anything with an ``endpoint`` (the ``convene`` fixture, a
:class:`convene.Convene`) or an endpoint URL; without it, ``CONVENE_ENDPOINT``.

The rule is added when the block starts and removed when it ends, whatever
happens inside (a rule whose ``count`` ran out is already gone).
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
from typing import Any, Iterator, Optional

__all__ = [
    "ControlError",
    "Controls",
    "fault",
    "latency",
    "advance_clock",
]


class ControlError(RuntimeError):
    """A test control refused a request (the message says why)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class Controls:
    """The test controls of one server.

    ``endpoint``: a URL or an object with an ``endpoint`` (a :class:`convene.Convene`);
    it defaults to ``CONVENE_ENDPOINT``; ``token`` to
    ``CONVENE_TEST_CONTROLS_TOKEN`` (needed when the server listens off loopback).
    """

    def __init__(self, endpoint: Any = None, token: Optional[str] = None):
        endpoint = getattr(endpoint, "endpoint", endpoint) or os.environ.get("CONVENE_ENDPOINT")
        if not endpoint:
            raise ValueError("give the server's endpoint URL or set CONVENE_ENDPOINT")
        self.endpoint = endpoint.rstrip("/")
        self.token = token if token is not None else os.environ.get("CONVENE_TEST_CONTROLS_TOKEN")

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.endpoint + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                message = json.loads(raw).get("message", raw.decode(errors="replace"))
            except (ValueError, AttributeError):
                message = raw.decode(errors="replace")
            raise ControlError(e.code, message) from None

    # fault rules (LocalStack's chaos API shape)
    def faults(self) -> list:
        return self.request("GET", "/_convene/chaos/faults")

    def set_faults(self, rules: list) -> list:
        return self.request("POST", "/_convene/chaos/faults", rules)

    def add_faults(self, rules: list) -> list:
        return self.request("PATCH", "/_convene/chaos/faults", rules)

    def remove_faults(self, rules: list) -> list:
        return self.request("DELETE", "/_convene/chaos/faults", rules)

    # network effects
    def effects(self) -> dict:
        return self.request("GET", "/_convene/chaos/effects")

    def set_latency(self, milliseconds: int, operation: Optional[str] = None) -> dict:
        body: dict = {"latency": milliseconds}
        if operation:
            body["operation"] = operation
        return self.request("POST", "/_convene/chaos/effects", body)

    # the meeting clock
    def clock(self, account: Optional[str] = None) -> dict:
        query = f"?account={account}" if account else ""
        return self.request("GET", "/_convene/clock" + query)

    def advance_clock(self, seconds: int, account: Optional[str] = None) -> dict:
        body: dict = {"advanceSeconds": seconds}
        if account:
            body["account"] = account
        return self.request("POST", "/_convene/clock", body)


def rule(
    operation: Optional[str] = None,
    code: str = "ServiceUnavailableException",
    *,
    count: Optional[int] = None,
    probability: Optional[float] = None,
    region: Optional[str] = None,
    account: Optional[str] = None,
    meeting_id: Optional[str] = None,
    message: Optional[str] = None,
    retry_after_seconds: Optional[int] = None,
) -> dict:
    """One fault rule as the server takes it."""
    r: dict = {"service": "chime-sdk-meetings", "error": {"code": code}}
    for key, value in (
        ("operation", operation),
        ("count", count),
        ("probability", probability),
        ("region", region),
        ("account", account),
        ("meetingId", meeting_id),
    ):
        if value is not None:
            r[key] = value
    if message is not None:
        r["error"]["message"] = message
    if retry_after_seconds is not None:
        r["error"]["retryAfterSeconds"] = retry_after_seconds
    return r


@contextlib.contextmanager
def fault(
    endpoint: Any = None,
    operation: Optional[str] = None,
    code: str = "ServiceUnavailableException",
    *,
    token: Optional[str] = None,
    **options: Any,
) -> Iterator[dict]:
    """Adds a fault rule for the length of the ``with`` block; yields the rule.

    ``options``: count, probability, region, account, meeting_id, message,
    retry_after_seconds. A rule the model does not allow (an exception the
    operation cannot raise, say) raises :class:`ControlError` at once.
    """
    controls = Controls(endpoint, token)
    r = rule(operation, code, **options)
    controls.add_faults([r])
    try:
        yield r
    finally:
        controls.remove_faults([r])


@contextlib.contextmanager
def latency(
    endpoint: Any = None,
    milliseconds: int = 0,
    operation: Optional[str] = None,
    *,
    token: Optional[str] = None,
) -> Iterator[None]:
    """Adds latency to API responses (of one operation, or all) for the block."""
    controls = Controls(endpoint, token)
    controls.set_latency(milliseconds, operation)
    try:
        yield
    finally:
        controls.set_latency(0, operation)


def advance_clock(
    endpoint: Any = None,
    seconds: int = 0,
    account: Optional[str] = None,
    *,
    token: Optional[str] = None,
) -> dict:
    """Moves the meeting clock forward; returns the clock and the meetings that ended."""
    return Controls(endpoint, token).advance_clock(seconds, account)
