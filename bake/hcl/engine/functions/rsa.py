"""``rsadecrypt``: RSA PKCS #1 v1.5 decryption with a PEM private key (PKCS #1 or PKCS #8)."""

from __future__ import annotations

import base64
import binascii
import re

from bake.hcl.engine.eval import FunctionError


def decrypt(ciphertext_b64: str, pem: str) -> str:
    try:
        ciphertext = base64.b64decode(ciphertext_b64, validate=True)
    except (binascii.Error, ValueError):
        raise FunctionError("failed to decode input \"cipher_text\": cipher text must be base64-encoded", arg=0) from None
    n, d = _private_key(pem)
    k = (n.bit_length() + 7) // 8
    if len(ciphertext) != k:
        raise FunctionError("failed to decrypt: crypto/rsa: decryption error")
    m = pow(int.from_bytes(ciphertext, "big"), d, n).to_bytes(k, "big")
    sep = m.find(b"\x00", 2)
    if m[:2] != b"\x00\x02" or sep < 10:
        raise FunctionError("failed to decrypt: crypto/rsa: decryption error")
    try:
        return m[sep + 1 :].decode()
    except UnicodeDecodeError:
        raise FunctionError("the result of decrypting the provided string is not valid UTF-8") from None


def _private_key(pem: str) -> tuple[int, int]:
    m = re.search(r"-----BEGIN ((?:RSA )?PRIVATE KEY)-----(.*?)-----END \1-----", pem, re.S)
    if not m:
        raise FunctionError("failed to parse key: no key found", arg=1)
    try:
        der = base64.b64decode("".join(m.group(2).split()))
        seq = _items(_read(der, 0)[1])
        if m.group(1) == "PRIVATE KEY":  # PKCS #8 wraps the PKCS #1 key in an OCTET STRING
            seq = _items(_read(seq[2][1], 0)[1])
        n = int.from_bytes(seq[1][1], "big")
        d = int.from_bytes(seq[3][1], "big")
    except (IndexError, ValueError, binascii.Error):
        raise FunctionError("failed to parse key: invalid DER encoding", arg=1) from None
    return n, d


def _read(buf: bytes, i: int) -> tuple[int, bytes, int]:
    """One DER TLV at ``i``: (tag, value, next index)."""
    tag, length = buf[i], buf[i + 1]
    i += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(buf[i : i + count], "big")
        i += count
    if i + length > len(buf):
        raise ValueError("truncated DER")
    return tag, buf[i : i + length], i + length


def _items(buf: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i < len(buf):
        tag, value, i = _read(buf, i)
        out.append((tag, value))
    return out
