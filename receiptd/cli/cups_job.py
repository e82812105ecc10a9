"""One CUPS job as the backend receives it (``job-id user title copies options [file]``), and
the idempotency key that makes a CUPS retry of it a replay instead of a second receipt.

cupsd runs the backend again for the same job after a retry, a restart of cupsd, or a
re-enabled queue, and it numbers jobs from 1 again once its state is wiped: the job id alone
is not a key. The key joins the job id with what makes this job unique: the CUPS server
(``server_id``, else the host name and CUPS's config directory), the queue, and the
``job-uuid`` cupsd gives every job (random bits in it), else its ``time-at-creation``.
Both reach the backend in the options argument.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import socket
import sys
from dataclasses import dataclass, field
from typing import BinaryIO

#: A job option (``lp -o receiptd-order-ref=1842``) that files the receipt under an order.
ORDER_OPTION = "receiptd-order-ref"
#: The API's limit on raw receipts: a larger job is refused before a byte is read past it.
MAX_JOB_BYTES = 256 * 1024


class BadJob(Exception):
    """The job itself cannot be printed (cupsd should cancel it, not retry it)."""


@dataclass(frozen=True)
class Job:
    job_id: str
    user: str
    title: str
    copies: int
    options: dict[str, str] = field(default_factory=dict)
    file: str | None = None

    @classmethod
    def from_argv(cls, args: list[str]) -> Job:
        """``args``: the five or six arguments after the program name."""
        job_id, user, title, copies, options = args[:5]
        if not job_id.isdigit():
            raise BadJob(f"job id {job_id!r} is not a number")
        try:
            n = int(copies)
        except ValueError:
            n = 1
        return cls(job_id=job_id, user=user, title=title, copies=max(n, 1),
                   options=parse_options(options), file=args[5] if len(args) > 5 else None)

    def key(self, server_id: str | None, queue: str | None) -> str:
        """The idempotency key: the same for every run of this job, never another job's."""
        server = server_id or f"{socket.gethostname()}:{os.environ.get('CUPS_SERVERROOT', '')}"
        unique = self.options.get("job-uuid") or self.options.get("time-at-creation") or ""
        digest = hashlib.sha256("\0".join(
            [server, queue or "", self.job_id, unique]).encode()).hexdigest()[:32]
        return f"cups-{self.job_id}-{digest}"

    def order_ref(self) -> str | None:
        return self.options.get(ORDER_OPTION) or None

    def read(self, stdin: BinaryIO | None = None) -> bytes:
        """The job's bytes, from its file or standard input (at most ``MAX_JOB_BYTES``)."""
        if self.file is not None:
            with open(self.file, "rb") as f:
                data = f.read(MAX_JOB_BYTES + 1)
        else:
            data = (stdin or sys.stdin.buffer).read(MAX_JOB_BYTES + 1)
        if len(data) > MAX_JOB_BYTES:
            raise BadJob(f"the job is larger than {MAX_JOB_BYTES} bytes, receiptd's limit for "
                         "one raw receipt")
        return data


def parse_options(text: str) -> dict[str, str]:
    """CUPS's ``name=value name2='a b' flag`` option string; a bare ``flag`` is "true"."""
    try:
        words = shlex.split(text)
    except ValueError:  # an unbalanced quote: keep what splits on spaces
        words = text.split()
    out: dict[str, str] = {}
    for word in words:
        name, sep, value = word.partition("=")
        out[name] = value if sep else "true"
    return out

