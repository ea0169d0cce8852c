"""Hostile XML is refused quickly, before the parser can be turned against us."""
from __future__ import annotations

import time

import pytest
from lxml import etree

from connectors import safexml

from connectors.common import Refused
from connectors.nemsis import parse_emsdataset

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE EMSDataSet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<EMSDataSet xmlns="http://www.nemsis.org"><Header>&xxe;</Header></EMSDataSet>"""

LAUGHS = b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n' + b"".join(
    f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode() for i in range(1, 10)
) + b']>\n<EMSDataSet xmlns="http://www.nemsis.org">&lol9;</EMSDataSet>'


def _refused(data: bytes, ctx, **limits) -> Refused:
    started = time.perf_counter()
    results = parse_emsdataset(data, ctx, **limits)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    (refused,) = results
    assert isinstance(refused, Refused) and refused.record_id is None
    return refused


def test_xxe_is_refused_without_reading_the_file(ctx):
    refused = _refused(XXE, ctx)
    assert refused.reason == "document has a DOCTYPE or ENTITY declaration, which is not accepted"
    assert "passwd" not in refused.reason


def test_the_parser_itself_does_not_resolve_external_entities():
    """Defence in depth: even past the pre-check, the configured parser reads no file."""
    root = etree.fromstring(XXE, parser=safexml._parser())
    assert "root:" not in etree.tostring(root).decode()


def test_billion_laughs_is_refused_fast(ctx):
    assert _refused(LAUGHS, ctx).reason.startswith("document has a DOCTYPE or ENTITY")


def test_entity_declared_in_utf16_is_refused(ctx):
    assert "UTF-16" in _refused(LAUGHS.decode().replace('<?xml version="1.0"?>', "").encode("utf-16"), ctx).reason


def test_other_declared_encoding_is_refused(ctx):
    data = b'<?xml version="1.0" encoding="UTF-7"?><EMSDataSet xmlns="http://www.nemsis.org"/>'
    assert _refused(data, ctx).reason == "document declares an encoding other than UTF-8"


def test_size_limit(ctx):
    data = b'<EMSDataSet xmlns="http://www.nemsis.org">' + b" " * 2000 + b"</EMSDataSet>"
    assert _refused(data, ctx, max_bytes=1000).reason.endswith("over the 1000-byte limit")


def test_depth_limit(ctx):
    data = b'<EMSDataSet xmlns="http://www.nemsis.org">' + b"<a>" * 60 + b"</a>" * 60 + b"</EMSDataSet>"
    assert _refused(data, ctx).reason == "document nests deeper than 48 elements"
    assert _refused(data, ctx, max_depth=100).reason == "document has no PatientCareReport"


@pytest.mark.parametrize("data, reason", [
    (b"", "document is empty"),
    (b"not xml at all", "document is not well-formed XML at line 1"),
    (b'<EMSDataSet xmlns="http://www.nemsis.org">\n<Header>\n', "document is not well-formed XML at line 3"),
    (b"\xff\xfe\x00<", "document is not UTF-8 (UTF-16/32 is not accepted)"),
    (b'<DEMDataSet xmlns="http://www.nemsis.org"/>', "root element is 'DEMDataSet', not a NEMSIS EMSDataSet"),
    (b"<EMSDataSet/>", "root element is 'EMSDataSet', not a NEMSIS EMSDataSet"),
])
def test_unreadable_documents_give_one_clear_refusal(data, reason, ctx):
    assert _refused(data, ctx).reason == reason


def test_bad_bytes_inside_are_refused(ctx):
    data = b'<EMSDataSet xmlns="http://www.nemsis.org"><Header>\xc3\x28</Header></EMSDataSet>'
    assert _refused(data, ctx).reason.startswith("document is not well-formed XML")
