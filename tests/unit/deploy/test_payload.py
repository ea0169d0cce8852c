"""Payload encryption of the person-data topics: sealed at the catalogue's codec, the key
version in the sealed header, rotation, and refusals that become dead letters."""
from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from pipeline.avro import CodecError
from pipeline.payload import PayloadCipher
from pipeline.settings import Settings
from pipeline.topics import Catalogue
from tests.support import factory

K1, K2 = os.urandom(32), os.urandom(32)  # made per run, never committed


def _settings(keys: dict[int, bytes], enabled: bool = True) -> Settings:
    return Settings(payload={"enabled": enabled, "keys": {v: k.hex() for v, k in keys.items()}})


def test_person_data_topics_are_sealed_and_the_others_are_not():
    catalogue = Catalogue.from_settings(_settings({1: K1}))
    run = factory.ems_run()
    sealed = catalogue["ems.run"].value.encode(run)
    assert sealed[:4] == b"\xe5\x01\x00\x01" and run.pcr_number.encode() not in sealed
    assert catalogue["ems.run"].value.decode(sealed) == run
    person = {t.name for t in catalogue if t.person_data}
    assert {"dispatch.incident", "ems.run", "field.referral", "referral.request", "consent.pending", "delivery",
            "delivery.retry.1m", "delivery.retry.10m", "delivery.retry.1h"} <= person
    assert all(t.name in person for t in catalogue if t.name.endswith(".dlq"))
    assert "audit" not in person and "detection" not in person
    assert Catalogue.from_settings(Settings())["ems.run"].value.encode(run)[:2] == b"\xc3\x01"  # off by default


def test_rotation_new_key_encrypts_old_keys_still_decrypt_and_a_dropped_key_is_a_clear_error():
    run = factory.ems_run()
    old = Catalogue.from_settings(_settings({1: K1}))["ems.run"].value.encode(run)
    plain = Catalogue()["ems.run"].value.encode(run)  # written before encryption was turned on
    rotated = Catalogue.from_settings(_settings({1: K1, 2: K2}))["ems.run"].value
    new = rotated.encode(run)
    assert new[2:4] == b"\x00\x02"
    assert rotated.decode(old) == rotated.decode(new) == rotated.decode(plain) == run
    retired = Catalogue.from_settings(_settings({2: K2}))["ems.run"].value
    assert retired.decode(new) == run
    with pytest.raises(CodecError, match="key version 1, which is not configured"):
        retired.decode(old)


def test_tampering_and_a_wrong_key_fail_authentication():
    cipher = PayloadCipher({1: K1})
    sealed = bytearray(cipher.seal(b"\xc3\x01" + b"x" * 40))
    sealed[-1] ^= 1
    with pytest.raises(CodecError, match="fails authentication"):
        cipher.open(bytes(sealed))
    with pytest.raises(CodecError, match="fails authentication"):
        PayloadCipher({1: K2}).open(cipher.seal(b"hello world, sixteen+"))
    header = bytearray(cipher.seal(b"abc" * 10))
    header[3] = 9  # the key version is authenticated too: changing it names a key we lack
    with pytest.raises(CodecError):
        cipher.open(bytes(header))


def test_settings_refuse_enabled_encryption_without_proper_keys():
    with pytest.raises(ValidationError, match="needs payload.keys"):
        Settings(payload={"enabled": True})
    with pytest.raises(ValidationError, match="64 hex characters"):
        Settings(payload={"enabled": True, "keys": {"1": "change-me"}})
    assert Settings(payload={"enabled": False, "keys": {"1": "change-me"}}).payload.enabled is False


def test_single_host_sites_can_flush_each_ingest_record():
    flushed = Catalogue.from_settings(Settings(kafka={"ingest_flush_messages": 1}))
    assert {t.name for t in flushed if t.config().get("flush.messages") == "1"} == {
        "dispatch.incident", "ems.run", "field.referral"}
    assert not any("flush.messages" in t.config() for t in Catalogue.from_settings(Settings()))
