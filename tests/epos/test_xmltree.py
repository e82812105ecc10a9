"""Reading untrusted ePOS-Print XML: hostile documents are refused cheaply, before anything is
journaled, and the envelope's parts are found where Epson's clients put them."""

from __future__ import annotations

import pytest

from receiptd.epos import EPOS_NS, SchemaError, read_request
from receiptd.epos.xmltree import MAX_DEPTH, MAX_ELEMENTS, parse

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def envelope(body: str, header: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP}">{header}'
            f'<s:Body><epos-print xmlns="{EPOS_NS}">{body}</epos-print></s:Body>'
            "</s:Envelope>").encode()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<epos-print xmlns="http://www.epson-pos.com/schemas/2011/03/epos-print"><text>&lol9;</text>
</epos-print>"""


def test_billion_laughs_is_refused_at_the_doctype() -> None:
    # Refused at the DOCTYPE, before any entity is declared, so nothing can expand.
    with pytest.raises(SchemaError, match="DTD"):
        read_request(BILLION_LAUGHS)


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE epos-print [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE epos-print SYSTEM "http://127.0.0.1:1/evil.dtd">',
    '<!DOCTYPE epos-print [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>',
])
def test_external_entities_and_dtds_are_refused(doctype: str) -> None:
    body = f'<?xml version="1.0"?>{doctype}<epos-print xmlns="{EPOS_NS}"><text>&x;</text>' \
           "</epos-print>"
    with pytest.raises(SchemaError):
        read_request(body.encode())


def test_an_undefined_entity_is_not_well_formed() -> None:
    with pytest.raises(SchemaError, match="well-formed"):
        read_request(envelope("<text>&x;</text>"))


def test_a_flood_of_elements_stops_at_the_bound() -> None:
    body = envelope("<feed/>" * (MAX_ELEMENTS + 10))
    with pytest.raises(SchemaError, match=f"more than {MAX_ELEMENTS} elements"):
        read_request(body)


def test_deep_nesting_stops_at_the_bound() -> None:
    body = "<a>" * (MAX_DEPTH + 5) + "</a>" * (MAX_DEPTH + 5)
    with pytest.raises(SchemaError, match="nested deeper"):
        parse(body.encode())


@pytest.mark.parametrize("body", [b"", b"<", b"<a></b>", b"\xff\xfe<a/>", b"<p:a/>",
                                  b"plain text"])
def test_not_well_formed_is_a_schema_error(body: bytes) -> None:
    with pytest.raises(SchemaError):
        read_request(body)


def test_the_envelope_header_carries_devid_timeout_and_job_id() -> None:
    header = (f'<s:Header><parameter xmlns="{EPOS_NS}"><devid>front</devid>'
              "<timeout>5000</timeout><printjobid>ABC_1.2-3</printjobid></parameter></s:Header>")
    request = read_request(envelope("<cut/>", header))
    assert (request.devid, request.timeout, request.printjobid) == ("front", "5000", "ABC_1.2-3")
    assert [c.name for c in request.document.children] == ["cut"]


def test_a_bad_print_job_id_is_refused() -> None:
    header = (f'<s:Header><parameter xmlns="{EPOS_NS}"><printjobid>no spaces</printjobid>'
              "</parameter></s:Header>")
    with pytest.raises(SchemaError, match="printjobid"):
        read_request(envelope("<cut/>", header))


def test_a_bare_epos_print_document_is_read() -> None:
    request = read_request(f'<epos-print xmlns="{EPOS_NS}"><cut/></epos-print>'.encode())
    assert request.devid is None and request.document.name == "epos-print"


@pytest.mark.parametrize("body", [
    f'<s:Envelope xmlns:s="{SOAP}"><s:Body><epos-print/></s:Body></s:Envelope>',
    f'<s:Envelope xmlns:s="{SOAP}"><s:Body/></s:Envelope>',
    f'<s:Envelope xmlns:s="{SOAP}"></s:Envelope>',
    '<epos-print xmlns="urn:other"><cut/></epos-print>',
    f'<s:Envelope xmlns:s="{SOAP}"><s:Body><epos-print xmlns="{EPOS_NS}"/>'
    f'<epos-print xmlns="{EPOS_NS}"/></s:Body></s:Envelope>',
])
def test_anything_but_one_epos_print_document_is_refused(body: str) -> None:
    with pytest.raises(SchemaError):
        read_request(body.encode())
