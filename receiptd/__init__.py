"""receiptd: journal every receipt, print it over ESC/POS, lose none."""

__version__ = "0.1.0"
