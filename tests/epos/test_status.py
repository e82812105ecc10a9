"""The printer's state in ePOS-Print terms: Epson's ASB bit values, the error code for each
fault, and the ``<response>`` envelope."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from receiptd.epos import EPOS_NS, fault_code, response_xml, status_bits
from receiptd.epos import status as asb


def test_bits_are_epsons() -> None:
    # ePOS-Print XML reference, <response> status; ePOS-Print API ASB_* constants.
    assert (asb.ASB_NO_RESPONSE, asb.ASB_PRINT_SUCCESS, asb.ASB_DRAWER_KICK,
            asb.ASB_OFF_LINE, asb.ASB_COVER_OPEN, asb.ASB_PAPER_FEED,
            asb.ASB_MECHANICAL_ERR, asb.ASB_AUTOCUTTER_ERR, asb.ASB_UNRECOVER_ERR,
            asb.ASB_AUTORECOVER_ERR, asb.ASB_RECEIPT_NEAR_END, asb.ASB_RECEIPT_END) == (
        0x1, 0x2, 0x4, 0x8, 0x20, 0x40, 0x400, 0x800, 0x2000, 0x4000, 0x20000, 0x80000)


def test_status_bits_from_flags() -> None:
    assert status_bits(["paper_end", "offline"], connected=True) == 0x80008
    assert status_bits(["paper_near_end"], connected=True, printed=True) == 0x20002
    assert status_bits(["cover_open", "drawer_open"], connected=True) == 0x24
    assert status_bits(["paper_end"], connected=False) == asb.ASB_NO_RESPONSE


@pytest.mark.parametrize(("state", "connected", "code"), [
    ("paper_out", True, "EPTR_REC_EMPTY"), ("cover_open", True, "EPTR_COVER_OPEN"),
    ("cutter_error", True, "EPTR_CUTTER"), ("mechanical_error", True, "EPTR_MECHANICAL"),
    ("auto_recoverable_error", True, "EPTR_AUTOMATICAL"),
    ("unrecoverable_error", True, "EPTR_UNRECOVERABLE"), ("offline", False, "EX_BADPORT"),
    ("offline", True, "EX_TIMEOUT"), ("online", True, None), ("paper_near_end", True, None),
    ("unknown", False, None),
])
def test_fault_codes(state: str, connected: bool, code: str | None) -> None:
    assert fault_code(state, connected=connected) == code


def test_response_envelope() -> None:
    body = response_xml(success=False, code="EPTR_REC_EMPTY", status=0x80008,
                        printjobid="A-1")
    root = ET.fromstring(body)
    response = root.find(f".//{{{EPOS_NS}}}response")
    assert response is not None
    assert response.attrib == {"success": "false", "code": "EPTR_REC_EMPTY",
                               "status": str(0x80008), "battery": "0"}
    assert response.findtext(f"{{{EPOS_NS}}}printjobid") == "A-1"
