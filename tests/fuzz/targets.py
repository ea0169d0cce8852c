"""Fuzz targets: each inbound parser and the MLLP framer, as `target(data: bytes) -> None`.

A target returns normally when the input was read or refused the project's way (a parser's
`Refused`, the codec's `CodecError`, the consent reader's `ConsentError`, the framer's
`FrameError`/`Idle`, the safe XML reader's `UnsafeXml`) and raises anything else: that is the
defect the fuzzers look for. Both drivers call these: atheris (tests/fuzz/run.py, coverage
guided, `make test-long`) and hypothesis (tests/fuzz/test_fuzz.py, a short bounded run in
`make test`).
"""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Callable

from connectors.common import ParseContext, Parsed, Refused
from connectors.edge.framing import FrameError, Frames, Idle
from connectors.edge.replies import status_from_reply
from connectors.hl7v2 import read_header
from connectors.safexml import UnsafeXml, parse_xml
from connectors import parsers
from pipeline import records as r
from pipeline.avro.codec import CodecError
from pipeline.consent.fhir import from_fhir
from pipeline.consent.registry import ConsentError
from pipeline.topics import Catalogue

AT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
CTX = ParseContext(received_at=AT, sender="ems-012", programme_id="demo",
                   dispatch_centre_for=lambda agency: "psap-north", agency_role=lambda agency: "covered-entity")


def _results(results: object) -> None:
    assert isinstance(results, list), f"a parser returned {type(results).__name__}, not a list"
    for x in results:
        assert isinstance(x, (Parsed, Refused)), f"a parser returned a {type(x).__name__}"
        if isinstance(x, Refused):
            assert x.reason and isinstance(x.reason, str), "a refusal without a reason"


def _kind(name: str, content_type: str = "") -> Callable[[bytes], None]:
    def target(data: bytes) -> None:
        _results(parsers.kind(name).parse(data, CTX, content_type))
    target.__name__ = f"parse_{name}{'_' + content_type.split('/')[-1] if content_type else ''}"
    return target


def hl7_header(data: bytes) -> None:
    head = read_header(data)
    assert isinstance(head, Refused) or head.message_type is not None


def rri_reply(data: bytes) -> None:
    assert isinstance(status_from_reply(data, "org-bridge-clinic", AT), (Parsed, Refused))


def consent(data: bytes) -> None:
    try:
        resource = json.loads(data)
    except ValueError:  # the endpoint answers 422 "body is not JSON"
        return
    try:
        from_fhir(resource)
    except ConsentError:
        return
    except (AttributeError, TypeError, KeyError) as error:  # a resource of the wrong shape must be a ConsentError
        raise AssertionError(f"from_fhir raised {type(error).__name__} (not ConsentError)") from error


_CATALOGUE = Catalogue(prefix="fuzz", partitions=1)


def avro(data: bytes) -> None:
    """The stage wrapper's first step: a consumed message decoded by its topic's codec."""
    for topic in ("ems.run", "referral.request", "delivery", "audit"):
        try:
            _CATALOGUE[topic].value.decode(data)
        except CodecError:
            pass


def xml(data: bytes) -> None:
    try:
        parse_xml(data)
    except UnsafeXml as e:
        assert e.reason


def mllp_frames(data: bytes) -> None:
    """The listener's framer over a stream that delivers `data` then ends."""
    async def go() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        frames = Frames(reader, max_bytes=4096, frame_timeout=0.5, idle_timeout=0.5)
        for _ in range(len(data) + 2):
            try:
                frame = await frames.next()
            except (FrameError, Idle):
                return
            if frame is None:
                return
            assert b"\x1c\x0d" not in frame
        raise AssertionError("the framer returned more frames than the input has bytes")
    asyncio.run(go())


TARGETS: dict[str, Callable[[bytes], None]] = {
    "nemsis": _kind("nemsis"), "hl7": _kind("hl7"), "hl7-header": hl7_header, "eido": _kind("eido"),
    "cad-csv": _kind("cad"), "field-json": _kind("field", "application/json"),
    "field-csv": _kind("field", "text/csv"), "consent": consent, "avro": avro, "xml": xml,
    "mllp": mllp_frames, "rri": rri_reply,
}
