"""Standard Webhooks verification for MailGrpc's webhook deliveries (standard library only: hmac, hashlib, base64)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER = "webhook-signature"
DEFAULT_WEBHOOK_TOLERANCE = timedelta(minutes=5)

_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


class WebhookVerificationError(Exception):
    """A delivery that did not verify. ``code`` is one of INVALID_SECRET, MISSING_HEADER, INVALID_TIMESTAMP,
    TIMESTAMP_TOO_OLD, TIMESTAMP_TOO_NEW, INVALID_SIGNATURE, INVALID_PAYLOAD (the same codes in every MailGrpc SDK);
    ``header`` names the missing header for MISSING_HEADER."""

    def __init__(self, code: str, message: str, header: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.header = header


@dataclass(frozen=True)
class WebhookEvent:
    """A verified delivery: ``id`` is the dedupe key (the same on every retry), ``timestamp`` the signed attempt time,
    ``type`` the payload's ``type`` (or None), ``payload`` the parsed JSON body."""

    id: str
    timestamp: datetime
    type: str | None
    payload: Any


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _secret_key(secret: str) -> bytes:
    encoded = secret[len("whsec_"):] if isinstance(secret, str) and secret.startswith("whsec_") else ""
    if not encoded or not _BASE64.fullmatch(encoded):
        raise WebhookVerificationError("INVALID_SECRET", "The webhook secret is not whsec_ followed by base64.")
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as error:
        raise WebhookVerificationError("INVALID_SECRET", "The webhook secret is not whsec_ followed by base64.") from error


def verify_webhook(payload: bytes | str, headers: Mapping[str, str], secret: str,
                   tolerance: timedelta | float = DEFAULT_WEBHOOK_TOLERANCE, *, now: float | None = None) -> WebhookEvent:
    """Verifies a Standard Webhooks delivery from MailGrpc and returns its event.

    ``payload`` is the raw request body exactly as received (parse it only after verifying), ``headers`` the request's
    headers (any mapping; names are matched case-insensitively), ``secret`` the endpoint's ``whsec_...`` secret,
    ``tolerance`` how far the signed timestamp may be from now either way (default 5 minutes; a number is seconds),
    ``now`` the receiver's clock in Unix seconds (tests). Checks the three headers, the timestamp, at least one ``v1``
    signature (constant-time compare; during a secret rotation the header carries one per secret) and that the body is
    JSON; raises WebhookVerificationError with a ``code`` otherwise.
    """
    key = _secret_key(secret)
    values = {}
    for name in (WEBHOOK_ID_HEADER, WEBHOOK_TIMESTAMP_HEADER, WEBHOOK_SIGNATURE_HEADER):
        value = _header(headers, name)
        if not value:
            raise WebhookVerificationError("MISSING_HEADER", f"The {name} header is missing.", name)
        values[name] = value
    msg_id, timestamp, signatures = values[WEBHOOK_ID_HEADER], values[WEBHOOK_TIMESTAMP_HEADER], values[WEBHOOK_SIGNATURE_HEADER]
    if not _TIMESTAMP.fullmatch(timestamp):
        raise WebhookVerificationError("INVALID_TIMESTAMP", "webhook-timestamp is not a whole number of seconds since the Unix epoch.")
    seconds = int(timestamp)
    allowed = int(tolerance.total_seconds() if isinstance(tolerance, timedelta) else tolerance)
    current = int(time.time() if now is None else now)
    if current - seconds > allowed:
        raise WebhookVerificationError("TIMESTAMP_TOO_OLD", f"webhook-timestamp is more than {allowed} s old.")
    if seconds - current > allowed:
        raise WebhookVerificationError("TIMESTAMP_TOO_NEW", f"webhook-timestamp is more than {allowed} s ahead of this clock.")

    body = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode("utf-8") + body, hashlib.sha256).digest()
    expected = base64.b64encode(mac)
    matched = False
    for candidate in signatures.split(" "):
        version, comma, given = candidate.partition(",")
        if comma and version == "v1":
            # Constant-time compare; every candidate is checked.
            matched |= hmac.compare_digest(expected, given.encode("utf-8"))
    if not matched:
        raise WebhookVerificationError("INVALID_SIGNATURE", "No v1 signature in webhook-signature matches this secret.")

    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise WebhookVerificationError("INVALID_PAYLOAD", "The signed body is not JSON.") from error
    event_type = parsed.get("type") if isinstance(parsed, dict) and isinstance(parsed.get("type"), str) else None
    return WebhookEvent(id=msg_id, timestamp=datetime.fromtimestamp(seconds, tz=timezone.utc), type=event_type, payload=parsed)
