"""Known-answer tests for webhook signature verification."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared_routing.errors import SignatureError
from shared_routing.signature import (
    SIGNATURE_HEADER,
    compute_signature,
    parse_secrets,
    verify_signature,
)

SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"
# printf 'Hello, World!' | openssl dgst -sha256 -hmac "It's a Secret to Everybody"
DIGEST = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

JSON_BODY = b'{"zen":"Design for failure."}'
OLD_SECRET = "old-secret-2025"
# printf '{"zen":"Design for failure."}' | openssl dgst -sha256 -hmac 'old-secret-2025'
JSON_DIGEST_OLD = "252ea9a35668d49c4b61884e4a1d08afe7d75bf07224ea6302d447c0f316167c"
# printf '{"zen":"Design for failure."}' | openssl dgst -sha256 \
#     -hmac "It's a Secret to Everybody"
JSON_DIGEST = "81a7433d2a01f5cc903dfe82dab32559f4fef3203a0e8c1da4eea0ff07ed701a"
# printf '' | openssl dgst -sha256 -hmac 'rotation-new'
EMPTY_BODY_DIGEST = "1c892ad8de5ed5c4fc66f236ec9ae2018e524344f6872a97ed1824ab93991f48"


def rejection(body: bytes, header: str | None, secrets: list[str]) -> str:
    with pytest.raises(SignatureError) as caught:
        verify_signature(body, header, secrets)
    message = str(caught.value)
    for secret in secrets:
        if secret:
            assert secret not in message
    assert compute_signature(body, secrets[0] if secrets else "x")[7:] not in message
    return message


def test_compute_signature_known_answer() -> None:
    assert compute_signature(BODY, SECRET) == "sha256=" + DIGEST
    assert compute_signature(JSON_BODY, SECRET) == "sha256=" + JSON_DIGEST
    assert compute_signature(b"", "rotation-new") == "sha256=" + EMPTY_BODY_DIGEST


def test_verify_correct_signature() -> None:
    verify_signature(BODY, "sha256=" + DIGEST, [SECRET])


def test_verify_empty_body() -> None:
    verify_signature(b"", "sha256=" + EMPTY_BODY_DIGEST, ["rotation-new"])


def test_verify_uppercase_hex_accepted() -> None:
    verify_signature(BODY, "sha256=" + DIGEST.upper(), [SECRET])


def test_verify_surrounding_spaces_accepted() -> None:
    verify_signature(BODY, "  sha256=" + DIGEST + " ", [SECRET])


def test_verify_wrong_secret() -> None:
    message = rejection(BODY, "sha256=" + DIGEST, ["not the secret"])
    assert message == f"{SIGNATURE_HEADER} does not match any configured webhook secret"


def test_verify_rotated_second_secret_matches() -> None:
    verify_signature(JSON_BODY, "sha256=" + JSON_DIGEST_OLD, [SECRET, OLD_SECRET])
    verify_signature(JSON_BODY, "sha256=" + JSON_DIGEST, [SECRET, OLD_SECRET])


def test_verify_rotated_secret_removed() -> None:
    message = rejection(JSON_BODY, "sha256=" + JSON_DIGEST_OLD, [SECRET])
    assert "does not match any configured webhook secret" in message


def test_verify_body_changed_after_signing() -> None:
    changed = b'{"zen":"Design for failure!"}'
    message = rejection(changed, "sha256=" + JSON_DIGEST, [SECRET])
    assert "does not match" in message


def test_verify_header_missing() -> None:
    assert rejection(BODY, None, [SECRET]) == f"{SIGNATURE_HEADER} header is missing"
    assert rejection(BODY, "  ", [SECRET]) == f"{SIGNATURE_HEADER} header is missing"


def test_verify_sha1_signature_rejected() -> None:
    # A SHA-1 HMAC has 40 hex digits, but the algorithm name alone decides.
    message = rejection(BODY, "sha1=" + "0123456789abcdef" * 2 + "01234567", [SECRET])
    assert "sha1 signature" in message
    assert "only 'sha256=' followed by 64 hex digits" in message


def test_verify_bare_digest_rejected() -> None:
    message = rejection(BODY, DIGEST, [SECRET])
    assert message.endswith("must start with 'sha256=' followed by 64 hex digits")


def test_verify_truncated_signature() -> None:
    message = rejection(BODY, "sha256=" + DIGEST[:63], [SECRET])
    assert "has 63 characters after 'sha256='" in message
    assert DIGEST[:63] not in message


def test_verify_overlong_signature() -> None:
    message = rejection(BODY, "sha256=" + DIGEST + "00", [SECRET])
    assert "has 66 characters" in message


def test_verify_non_hex_signature() -> None:
    message = rejection(BODY, "sha256=" + "g" * 64, [SECRET])
    assert message.endswith("contains characters that are not hex digits")


def test_verify_non_ascii_signature() -> None:
    message = rejection(BODY, "sha256=" + "é" * 64, [SECRET])
    assert "not hex digits" in message


def test_verify_no_secrets_configured() -> None:
    assert rejection(BODY, "sha256=" + DIGEST, []) == "no webhook secret configured"


def test_verify_blank_secrets_ignored() -> None:
    # An empty key would let anyone sign, so a list of blanks counts as none.
    message = rejection(BODY, compute_signature(BODY, ""), ["", ""])
    assert message == "no webhook secret configured"


def test_parse_secrets_splits_and_strips() -> None:
    assert parse_secrets(" new-secret , old-secret,,  ") == ("new-secret", "old-secret")


def test_parse_secrets_empty() -> None:
    assert parse_secrets("") == ()
    assert parse_secrets(" , ") == ()


@given(body=st.binary(), secret=st.text(min_size=1), other=st.text(min_size=1))
def test_verify_round_trip(body: bytes, secret: str, other: str) -> None:
    header = compute_signature(body, secret)
    verify_signature(body, header, [other, secret])


@given(body=st.binary(), header=st.text())
def test_verify_arbitrary_header_raises_signature_error(
    body: bytes, header: str
) -> None:
    with pytest.raises(SignatureError):
        verify_signature(body, header, [SECRET])
