"""Optional payload encryption for the topics that carry person data (AES-256-GCM).

A sealed value is `E5 01 | key version (2 bytes, big-endian) | nonce (12) | ciphertext+tag`:
the key version travels in this header with the bytes, so a dead letter, a replay or a
retry topic that forwards the bytes stays readable. The header is authenticated (AAD).
`SealedCodec` wraps a topic's value codec at the catalogue (pipeline/topics.py), so no
stage changes: encode seals with the current (highest) key; decode opens any listed key
version, and still reads plain Avro single-object values (a topic written before
encryption was turned on). An unknown key version or a failed tag is a `CodecError`,
which the stage wrapper turns into a dead letter with the reason.
"""
from __future__ import annotations

import os
import struct
from typing import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pipeline.avro.codec import MAGIC as AVRO_MAGIC
from pipeline.avro.codec import Codec, CodecError

MAGIC = b"\xe5\x01"
HEADER = struct.Struct(">2sH")
NONCE = 12


class PayloadCipher:
    def __init__(self, keys: Mapping[int, bytes]) -> None:
        if not keys:
            raise ValueError("payload encryption needs at least one key")
        for version, key in keys.items():
            if len(key) != 32 or not 0 < version < 65536:
                raise ValueError(f"payload key {version}: 32 bytes and a version 1..65535")
        self._aead = {version: AESGCM(bytes(key)) for version, key in keys.items()}
        self.current = max(keys)

    @classmethod
    def from_settings(cls, payload) -> "PayloadCipher | None":
        """The cipher for `settings.payload`, or None when encryption is off."""
        if not payload.enabled:
            return None
        return cls({v: bytes.fromhex(k.get_secret_value()) for v, k in payload.keys.items()})

    def seal(self, plain: bytes) -> bytes:
        header = HEADER.pack(MAGIC, self.current)
        nonce = os.urandom(NONCE)
        return header + nonce + self._aead[self.current].encrypt(nonce, plain, header)

    def open(self, data: bytes) -> bytes:
        if len(data) < HEADER.size + NONCE + 16:
            raise CodecError("truncated sealed payload")
        magic, version = HEADER.unpack_from(data)
        aead = self._aead.get(version)
        if aead is None:
            raise CodecError(f"sealed with payload key version {version}, which is not configured")
        try:
            return aead.decrypt(data[HEADER.size:HEADER.size + NONCE], data[HEADER.size + NONCE:],
                                data[:HEADER.size])
        except InvalidTag:
            raise CodecError(f"sealed payload fails authentication (key version {version})") from None

    @staticmethod
    def is_sealed(data: bytes | None) -> bool:
        return bool(data) and data[:2] == MAGIC


class SealedCodec:
    """A topic's value codec with encryption around it: encode and decode as `Codec` does;
    everything else (model, schema, fingerprint) is the inner codec's."""

    def __init__(self, inner: Codec, cipher: PayloadCipher) -> None:
        self.inner, self.cipher = inner, cipher

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def encode(self, record) -> bytes:
        return self.cipher.seal(self.inner.encode(record))

    def decode(self, data: bytes | None):
        if PayloadCipher.is_sealed(data):
            return self.inner.decode(self.cipher.open(data))
        if data and data[:2] == AVRO_MAGIC:  # written before encryption was turned on
            return self.inner.decode(data)
        raise CodecError(f"neither a sealed nor an Avro value for {self.inner.model.__name__}")
