"""Avro for every topic: schemas generated from the shared records, a single-object codec,
and the full-transitive compatibility check."""
from pipeline.avro.codec import Codec, CodecError, Registry
from pipeline.avro.compat import full_errors, reader_errors
from pipeline.avro.generate import schema_for

__all__ = ["Codec", "CodecError", "Registry", "full_errors", "reader_errors", "schema_for"]
