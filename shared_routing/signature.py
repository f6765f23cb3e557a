"""Verify GitHub webhook signatures: HMAC-SHA256 over the raw body, several secrets.

GitHub signs every delivery with the webhook secret and sends the result in the
`X-Hub-Signature-256` header as `sha256=<64 lowercase hex digits>`. Accepting a
list of secrets lets an operator rotate the secret without dropping deliveries:
configure the new and the old secret, change the secret on GitHub, then remove
the old one.
https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

from .errors import SignatureError

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def parse_secrets(value: str) -> tuple[str, ...]:
    """Split a comma-separated list of secrets, dropping blanks and outer spaces."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def compute_signature(body: bytes, secret: str) -> str:
    """Return the `X-Hub-Signature-256` value for `body` signed with `secret`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(body: bytes, header: str | None, secrets: Sequence[str]) -> None:
    """Raise SignatureError unless `header` is a valid signature of `body`.

    The signature must match one of `secrets`. Blank secrets are ignored, so a
    list of blanks raises like an empty one. Hex digits are compared
    case-insensitively. Messages name the problem but never contain a secret or
    a digest.
    """
    keys = [secret.encode("utf-8") for secret in secrets if secret]
    if not keys:
        raise SignatureError("no webhook secret configured")
    expected = _parse_header(header)
    matched = False
    # Compare against every secret without stopping at the first match, so the
    # time taken does not reveal which secret matched.
    for key in keys:
        digest = hmac.new(key, body, hashlib.sha256).digest()
        matched |= hmac.compare_digest(digest, expected)
    if not matched:
        raise SignatureError(
            f"{SIGNATURE_HEADER} does not match any configured webhook secret"
        )


def _parse_header(header: str | None) -> bytes:
    """Return the digest bytes carried by a signature header value."""
    if header is None or not header.strip():
        raise SignatureError(f"{SIGNATURE_HEADER} header is missing")
    value = header.strip()
    algorithm, separator, hex_digest = value.partition("=")
    if not separator or algorithm.lower() != "sha256":
        if algorithm.lower() == "sha1":
            raise SignatureError(
                f"{SIGNATURE_HEADER} contains a sha1 signature, but only "
                "'sha256=' followed by 64 hex digits is accepted"
            )
        raise SignatureError(
            f"{SIGNATURE_HEADER} must start with 'sha256=' followed by 64 hex digits"
        )
    hex_digest = hex_digest.lower()
    if len(hex_digest) != 64:
        raise SignatureError(
            f"{SIGNATURE_HEADER} has {len(hex_digest)} characters after 'sha256=', "
            "expected 64 hex digits"
        )
    if not _HEX_DIGEST.fullmatch(hex_digest):
        raise SignatureError(
            f"{SIGNATURE_HEADER} contains characters that are not hex digits"
        )
    return bytes.fromhex(hex_digest)
