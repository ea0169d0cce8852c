"""Avro: generated schemas, the single-object codec, and full transitive compatibility."""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from pipeline import records as r
from pipeline.avro import Codec, CodecError, full_errors, reader_errors, schema_for
from handoff.commands.schemas import check_model, history_dir, schema_path, topic_records
from pipeline.avro.codec import MAGIC, fingerprint
from tests.support.samples import samples

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "schemas"


@pytest.mark.parametrize("model", topic_records(), ids=lambda m: m.__name__)
def test_every_topic_record_round_trips_through_its_codec(model):
    record = samples()[model]
    codec = Codec(model)
    data = codec.encode(record)
    assert data[:2] == MAGIC and data[2:10] == codec.fingerprint
    assert codec.decode(data) == record


def test_every_topic_record_has_a_sample():
    assert set(topic_records()) <= set(samples())


def test_fingerprint_is_crc64_avro_little_endian():
    # Avro's reference values (as signed 64-bit longs): "int" 8247732601305521295,
    # "string" -8142146995180207161; single-object encoding writes them little-endian.
    import struct
    assert struct.unpack("<q", fingerprint("int"))[0] == 8247732601305521295
    assert struct.unpack("<q", fingerprint("string"))[0] == -8142146995180207161


def test_decode_refuses_bad_bytes_with_a_reason():
    codec = Codec(r.ReferralKey)
    good = codec.encode(r.ReferralKey(referral_id="ref-1"))
    with pytest.raises(CodecError, match="not an Avro single-object"):
        codec.decode(b"{json}")
    with pytest.raises(CodecError, match="unknown schema fingerprint"):
        codec.decode(MAGIC + b"\x00" * 8 + good[10:])
    with pytest.raises(CodecError, match="corrupt"):
        codec.decode(good[:11])
    with pytest.raises(CodecError, match="trailing bytes"):
        codec.decode(good + b"\x00")
    with pytest.raises(CodecError, match="referral_id"):
        codec.decode(codec.encode(r.ReferralKey.model_construct(referral_id=" ")))


def test_a_value_outside_a_vocabulary_is_refused():
    codec = Codec(r.ReferralStatus)
    status = samples()[r.ReferralStatus]
    bad = status.model_copy(update={"state": "received"})  # not in the referral Task.status set
    with pytest.warns(UserWarning), pytest.raises(CodecError, match="state"):
        codec.decode(codec.encode(bad))


def test_an_older_writer_version_is_read_into_the_current_record():
    current = schema_for(r.ReferralKey)
    older = copy.deepcopy(current)
    older["fields"].append({"name": "legacy", "type": "string", "default": ""})
    import io
    import fastavro
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(older), {"referral_id": "ref-9", "legacy": "x"})
    codec = Codec(r.ReferralKey, history=[older])
    assert codec.decode(MAGIC + fingerprint(older) + body.getvalue()) == r.ReferralKey(referral_id="ref-9")


def test_resolution_rules():
    rec = lambda *fields: {"type": "record", "name": "org.x.R", "fields": list(fields)}
    assert reader_errors(rec({"name": "a", "type": "long"}), rec({"name": "a", "type": "int"})) == []
    assert reader_errors(rec({"name": "a", "type": "int"}), rec({"name": "a", "type": "long"}))
    assert reader_errors(rec({"name": "b", "type": "string", "default": ""}), rec()) == []
    assert reader_errors(rec({"name": "b", "type": "string"}), rec())
    assert reader_errors(["null", "string"], "string") == []
    assert reader_errors("string", ["null", "string"])
    assert reader_errors({"type": "enum", "name": "E", "symbols": ["A"]},
                         {"type": "enum", "name": "E", "symbols": ["A", "B"]})


def test_adding_a_field_with_a_default_is_fully_compatible():
    old = schema_for(r.ReferralStatus)
    new = copy.deepcopy(old)
    new["fields"].append({"name": "note", "type": ["null", "string"], "default": None})
    assert full_errors(new, old) == []


def test_the_committed_breaking_fixture_fails_the_check(tmp_path):
    model = r.ReferralStatus
    shutil.copy(schema_path(model), schema_path(model, tmp_path))
    history = history_dir(model, tmp_path)
    history.mkdir(parents=True)
    assert check_model(model, tmp_path) == []
    shutil.copy(FIXTURES / "breaking-ReferralStatus-v0.avsc", history / "v0001.avsc")
    problems = check_model(model, tmp_path)
    assert any("unit_call_sign" in p for p in problems), problems
    assert any("reason" in p for p in problems), problems


def test_committed_schemas_are_current_and_compatible_with_their_history():
    problems = [p for model in topic_records() for p in check_model(model)]
    assert problems == []


def test_committed_schema_files_parse_as_json():
    for model in topic_records():
        assert json.loads(schema_path(model).read_text())["name"] == f"org.handoff.{model.__name__}"


def _written_with(schema: dict, value: dict) -> bytes:
    import io
    import fastavro
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), value)
    return MAGIC + fingerprint(schema) + body.getvalue()


def test_a_renamed_record_reads_what_its_old_name_wrote():
    """`Referral` became `ReferralRequest`: the last schema published under the old name is
    in the new name's history, and a message it wrote decodes into the renamed record."""
    [*_, last_old] = sorted(history_dir(r.ReferralRequest).glob("*.avsc"))
    old = json.loads(last_old.read_text())
    assert old["name"] == "org.handoff.Referral"
    assert schema_for(r.ReferralRequest)["aliases"] == ["org.handoff.Referral"]
    sample = samples()[r.ReferralRequest]
    value = Codec(r.ReferralRequest).decode(Codec(r.ReferralRequest).encode(sample)).model_dump()
    decoded = Codec(r.ReferralRequest, history=[old]).decode(_written_with(old, value))
    assert decoded == sample


def test_a_renamed_field_reads_what_its_old_name_wrote():
    """`FieldReferral.person` (demographics) became `subject`; `person` is always a token."""
    [old_path] = [p for p in sorted(history_dir(r.FieldReferral).glob("*.avsc"))
                  if any(f["name"] == "person" for f in json.loads(p.read_text())["fields"])][-1:]
    old = json.loads(old_path.read_text())
    sample = samples()[r.FieldReferral]
    value = sample.model_dump()
    value["person"] = value.pop("subject")
    decoded = Codec(r.FieldReferral, history=[old]).decode(_written_with(old, value))
    assert decoded.subject == sample.subject


def test_a_rename_without_an_alias_is_refused():
    rec = lambda name, field, aliases=(): {"type": "record", "name": name, "aliases": list(aliases),
                                           "fields": [{"name": field, "type": "string"}]}
    assert full_errors(rec("org.x.New", "a"), rec("org.x.Old", "a"))
    assert full_errors(rec("org.x.New", "a", ["org.x.Old"]), rec("org.x.Old", "a")) == []
    assert full_errors(rec("org.x.R", "b"), rec("org.x.R", "a"))
    with_alias = {"type": "record", "name": "org.x.R", "fields": [{"name": "b", "aliases": ["a"], "type": "string"}]}
    assert full_errors(with_alias, rec("org.x.R", "a")) == []


def test_schemas_write_moves_an_old_name_into_the_new_names_history(tmp_path):
    from handoff.commands.schemas import adopt_history
    (tmp_path / "history" / "org.handoff.Referral").mkdir(parents=True)
    (tmp_path / "history" / "org.handoff.Referral" / "v0001.avsc").write_text("one")
    (tmp_path / "org.handoff.Referral.avsc").write_text("two")
    adopt_history(r.ReferralRequest, tmp_path)
    moved = sorted(history_dir(r.ReferralRequest, tmp_path).glob("*.avsc"))
    assert [p.read_text() for p in moved] == ["one", "two"]
    assert not (tmp_path / "org.handoff.Referral.avsc").exists()
    assert not (tmp_path / "history" / "org.handoff.Referral").exists()
