"""The two XOR schemes benchmark files use to keep answers out of web crawls."""

from __future__ import annotations

import base64
import binascii
import hashlib

from ...errors import DatasetError

__all__ = ["browsecomp_decrypt", "xbench_decrypt", "xor_decrypt"]


def xor_decrypt(ciphertext_b64: str, key: bytes) -> str:
    """base64-decode, XOR with `key` repeated to length, decode as UTF-8."""
    if not key:
        raise DatasetError("empty decryption key (canary)")
    try:
        data = base64.b64decode(ciphertext_b64.strip(), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise DatasetError(f"not base64: {exc}") from exc
    klen = len(key)
    plain = bytes(b ^ key[i % klen] for i, b in enumerate(data))
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError("decryption gave invalid UTF-8 (wrong canary or scheme?)") from exc


def browsecomp_decrypt(ciphertext_b64: str, password: str) -> str:
    """The BrowseComp scheme (also BrowseComp-ZH): key = SHA-256(canary)."""
    return xor_decrypt(ciphertext_b64, hashlib.sha256(password.encode("utf-8")).digest())


def xbench_decrypt(ciphertext_b64: str, canary: str) -> str:
    """The xbench-DeepSearch scheme: key = the canary's raw bytes, no hashing."""
    return xor_decrypt(ciphertext_b64, canary.encode("utf-8"))
