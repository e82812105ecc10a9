"""Epson ePOS-Print XML: the documents web and tablet POS apps post to a printer, read into
receiptd's own content, and the printer's answers written back (pure: no I/O)."""
