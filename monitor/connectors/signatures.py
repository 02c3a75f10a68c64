"""The signature checks platforms use, as small pure functions, each refusing with the reason that is logged.

Every comparison is constant-time (:func:`hmac.compare_digest`). Timestamps are checked against the
``connector_signature_tolerance_s`` window on both sides, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from monitor.errors import SignatureError


def hmac_hex(secret: str, message: bytes, algorithm: str = "sha256") -> str:
    return hmac.new(secret.encode(), message, getattr(hashlib, algorithm)).hexdigest()


def hmac_base64(secret: str, message: bytes, algorithm: str = "sha1") -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, getattr(hashlib, algorithm)).digest()).decode()


def require_header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name.lower(), "").strip()
    if not value:
        raise SignatureError(f"no {name} header")
    return value


def check_fresh(timestamp: str, *, now: float, tolerance_s: float, header: str) -> None:
    """Refuse a signed timestamp that is not a number or is outside ``tolerance_s`` of ``now``."""
    try:
        sent = float(timestamp)
    except ValueError:
        raise SignatureError(f"{header} is not a timestamp: {timestamp[:40]!r}") from None
    if abs(now - sent) > tolerance_s:
        raise SignatureError(f"stale signature: {header} is {now - sent:.0f} s from now (tolerance {tolerance_s:g} s)")


def check_equal(given: str, expected: str, *, header: str) -> None:
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise SignatureError(f"{header} does not match the body signed with the configured secret")
