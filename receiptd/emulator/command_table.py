"""The ESC/POS command table: every fixed-length command's name and length.

A printer that meets a command it has no use for still has to skip exactly its bytes, so the
table lists settings the emulator ignores too. Variable-length commands are measured in
``receiptd.emulator.commands``.
"""

from __future__ import annotations

ESC, GS, FS = 0x1B, 0x1D, 0x1C

# Fixed-length commands: function byte -> (name, total length including prefix).
ESC_FIXED: dict[int, tuple[str, int]] = {
    0x0C: ("page_print", 2),
    0x20: ("char_spacing", 3),
    0x21: ("print_mode", 3),
    0x24: ("abs_position", 4),
    0x25: ("user_charset", 3),
    0x2D: ("underline", 3),
    0x32: ("line_spacing_default", 2),
    0x33: ("line_spacing", 3),
    0x3C: ("return_home", 2),
    0x3D: ("peripheral_select", 3),
    0x3F: ("cancel_user_char", 3),
    0x40: ("init", 2),
    0x45: ("bold", 3),
    0x47: ("double_strike", 3),
    0x4A: ("feed_dots", 3),
    0x4B: ("reverse_feed_dots", 3),
    0x4C: ("page_mode", 2),
    0x4D: ("font", 3),
    0x52: ("intl_charset", 3),
    0x53: ("standard_mode", 2),
    0x54: ("print_direction", 3),
    0x55: ("unidirectional", 3),
    0x56: ("rotate", 3),
    0x57: ("page_area", 10),
    0x5C: ("rel_position", 4),
    0x61: ("align", 3),
    0x63: ("panel_sensor", 4),
    0x64: ("feed_lines", 3),
    0x65: ("reverse_feed_lines", 3),
    0x69: ("cut_legacy_full", 2),
    0x6D: ("cut_legacy_partial", 2),
    0x70: ("drawer", 5),
    0x72: ("color", 3),
    0x74: ("codepage", 3),
    0x75: ("peripheral_status", 3),
    0x76: ("paper_status", 3),
    0x7B: ("upside_down", 3),
}

GS_FIXED: dict[int, tuple[str, int]] = {
    0x21: ("char_size", 3),
    0x24: ("abs_vposition", 4),
    0x2F: ("print_downloaded_image", 3),
    0x3A: ("macro", 2),
    0x42: ("reverse", 3),
    0x45: ("head_control", 3),
    0x48: ("hri_position", 3),
    0x49: ("identity", 3),
    0x4C: ("left_margin", 4),
    0x50: ("motion_units", 4),
    0x54: ("line_start", 3),
    0x57: ("area_width", 4),
    0x5C: ("rel_vposition", 4),
    0x5E: ("macro_run", 5),
    0x61: ("asb", 3),
    0x62: ("smoothing", 3),
    0x63: ("print_counter", 2),
    0x66: ("hri_font", 3),
    0x67: ("maintenance", 6),  # GS g 0 / GS g 2: m nL nH
    0x68: ("barcode_height", 3),
    0x6A: ("ink_asb", 3),
    0x72: ("status", 3),
    0x77: ("barcode_width", 3),
    0x7A: ("recovery_wait", 5),
}

FS_FIXED: dict[int, tuple[str, int]] = {
    0x21: ("kanji_print_mode", 3),
    0x26: ("kanji_on", 2),
    0x2D: ("kanji_underline", 3),
    0x2E: ("kanji_off", 2),
    0x32: ("define_kanji", 4 + 72),
    0x43: ("kanji_code", 3),
    0x53: ("kanji_spacing", 4),
    0x57: ("kanji_quad", 3),
    0x70: ("print_nv_image", 4),
}

FIXED: dict[int, dict[int, tuple[str, int]]] = {ESC: ESC_FIXED, GS: GS_FIXED, FS: FS_FIXED}

# GS V m: the cut modes without and with a feed argument n.
GS_CUT_SHORT = frozenset({0, 1, 48, 49})
GS_CUT_FEED = frozenset({65, 66, 97, 98, 103, 104})
# The partial cuts (one point left uncut); the other modes cut the paper through. Epson ESC/POS
# Command Reference, "GS V: Select cut mode and cut paper", functions A (0/48 full, 1/49
# partial), B (65 full, 66 partial), C (97 full, 98 partial) and D (103 full, 104 partial).
# Parity does not tell them apart: 65, 97 and 103 are odd and full.
GS_CUT_PARTIAL = frozenset({1, 49, 66, 98, 104})

# The commands that cut the paper (GS V, and ESC i / ESC m of older models).
CUT_NAMES = frozenset({"cut", "cut_legacy_full", "cut_legacy_partial"})
