"""One root exception; subclasses say what happens next.

* ``ClientError`` — the caller's fault: the API answers 4xx with ``code``.
* ``LinkError`` — the connection to the printer dropped or timed out: retry.
* ``PrinterFault`` — the printer needs an operator (paper, cover, jam): wait.
* ``JournalUnavailable`` — the disk cannot take the write: 503, never a 202.
"""

from __future__ import annotations


class ReceiptdError(Exception):
    code = "internal_error"
    status = 500

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


# -- the caller's fault ------------------------------------------------------------------------


class ClientError(ReceiptdError):
    """The request is wrong; nothing was changed."""

    code = "bad_request"
    status = 400


class InvalidDocument(ClientError):
    """The receipt document does not validate or cannot be rendered."""

    code = "invalid_document"
    status = 422


class UnprintableText(InvalidDocument):
    """Text holds characters this printer cannot print: not in its code pages or double-byte
    set, and no font draws them. Refused at submission rather than printed as ``?``."""

    code = "unprintable_text"
    status = 422


class RawRejected(ClientError):
    """Raw ESC/POS input contains a command that is not allowed."""

    code = "raw_rejected"
    status = 422


class TooLarge(ClientError):
    """The request exceeds a size limit."""

    code = "too_large"
    status = 413


class NotFound(ClientError):
    code = "not_found"
    status = 404


class Conflict(ClientError):
    code = "conflict"
    status = 409


class Unauthorized(ClientError):
    code = "unauthorized"
    status = 401


class Forbidden(ClientError):
    code = "forbidden"
    status = 403


class ConfigError(ReceiptdError):
    """The configuration is invalid; the message names the full key path."""

    code = "config_error"


# -- retry -----------------------------------------------------------------------------------


class LinkError(ReceiptdError):
    """The link to the printer failed; reconnect and retry."""

    code = "link_error"
    status = 503


class LinkClosed(LinkError):
    """The peer closed the connection or the device went away."""

    code = "link_closed"


class LinkTimeout(LinkError):
    """A write did not complete in time. ``written`` bytes did go out."""

    code = "link_timeout"

    def __init__(self, message: str = "", *, written: int = 0) -> None:
        super().__init__(message)
        self.written = written


# -- wait for the operator -------------------------------------------------------------------


class PrinterFault(ReceiptdError):
    """The printer reports a fault that an operator must clear."""

    code = "printer_fault"
    status = 503


# -- the disk --------------------------------------------------------------------------------


class JournalUnavailable(ReceiptdError):
    """The journal cannot be written (disk full, read-only, locked)."""

    code = "journal_unavailable"
    status = 503


class JournalCorrupt(ReceiptdError):
    """The journal file fails its integrity check; it is left untouched."""

    code = "journal_corrupt"
