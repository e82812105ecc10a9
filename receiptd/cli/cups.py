"""``receiptd-cups-backend``: the CUPS backend for ``receiptd://PRINTER`` queues.

cupsd runs it once per job (man 7 backend): with no arguments it lists the scheme it serves;
with ``job-id user title copies options [file]`` it reads the job, submits it to receiptd as a
raw receipt (source ``cups``, an idempotency key from the job: a CUPS retry is a replay, not
a second receipt), follows it until receiptd confirms it on paper, and meanwhile shows the
printer's state as the queue's printer-state-reasons, so ``lpstat`` and every CUPS client see
paper-out, an open cover or an offline printer. The exit code tells cupsd what to do next.
``receiptd-cups-backend install`` installs it into CUPS (``receiptd.cli.cups_install``).
"""

from __future__ import annotations

import base64
import os
import signal
import sys
import time
from types import FrameType
from typing import Any

import httpx

from receiptd.cli.client import ApiError, Client, error_of, unreachable
from receiptd.cli.cups_config import (
    BackendConfig,
    Device,
    SetupError,
    config_path,
    load_config,
    parse_device_uri,
)
from receiptd.cli.cups_follow import BACKOFF_S, TRANSIENT, EventStream, follow
from receiptd.cli.cups_job import BadJob, Job
from receiptd.cli.cups_report import CONNECTING, Reporter

# Exit codes (cups/backend.h; man 7 backend).
CUPS_BACKEND_OK = 0  # printed: the job is completed
CUPS_BACKEND_FAILED = 1  # the queue's printer-error-policy decides
CUPS_BACKEND_STOP = 4  # the queue is wrong (URI, config, token): stop it, keep the job
CUPS_BACKEND_CANCEL = 5  # the job itself can never print: cancel it
CUPS_BACKEND_RETRY = 6  # try the job again later (cupsd holds it JobRetryInterval)

#: The device discovery line (``lpinfo -v``): the scheme, for any printer name.
DISCOVERY = 'network receiptd "Unknown" "receiptd (journaled receipts)"'
#: How long the event stream may take to open before the job is submitted anyway.
STREAM_OPEN_S = 10.0
#: Codes that mean the queue or the backend's config is wrong, not the job.
_SETUP_STATUSES = frozenset({401, 403, 404})


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(DISCOVERY, flush=True)
        return CUPS_BACKEND_OK
    if args[0] == "install":
        from receiptd.cli.cups_install import main as install

        return install(args[1:])
    if len(args) not in (5, 6):
        print("usage: receiptd-cups-backend job-id user title copies options [file]\n"
              "       receiptd-cups-backend install [--help]", file=sys.stderr)
        return CUPS_BACKEND_FAILED
    return run(args, Reporter(sys.stderr))


def run(args: list[str], reporter: Reporter) -> int:
    # cupsd stops a backend with SIGTERM (job cancelled, queue stopped, cupsd shutting down);
    # cupsd has then decided the job's fate itself. What receiptd accepted prints anyway.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        device = parse_device_uri(os.environ.get("DEVICE_URI") or sys.argv[0])
        config = load_config(config_path())
        job = Job.from_argv(args)
        data = job.read()
    except SetupError as exc:
        reporter.error(f"receiptd queue setup: {exc}")
        return CUPS_BACKEND_STOP
    except BadJob as exc:
        reporter.error(f"receiptd cannot print this job: {exc}")
        return CUPS_BACKEND_CANCEL
    except OSError as exc:
        reporter.error(f"cannot read the job: {exc}")
        return CUPS_BACKEND_FAILED
    if not data:
        reporter.info("empty job: nothing to print")
        return CUPS_BACKEND_OK
    reporter.reset()
    try:
        return print_job(device, config, job, data, reporter)
    except ApiError as exc:
        reporter.error(f"receiptd: {exc}")
        return CUPS_BACKEND_STOP if exc.status in _SETUP_STATUSES else CUPS_BACKEND_FAILED


def _terminated(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write("INFO: stopped by CUPS; a receipt receiptd accepted still prints\n")
    sys.stderr.flush()
    os._exit(CUPS_BACKEND_RETRY)


def client_for(device: Device, config: BackendConfig) -> Client:
    unix_socket = None if device.url else config.unix_socket
    return Client(device.url or config.url, config.token, unix_socket)


def print_job(device: Device, config: BackendConfig, job: Job, data: bytes,
              reporter: Reporter) -> int:
    client, stream_client = client_for(device, config), client_for(device, config)
    stream = EventStream(stream_client)
    if not stream.start(STREAM_OPEN_S):
        reporter.debug("event stream not open yet; following the receipt by polling")
    body: dict[str, Any] = {
        "raw": base64.b64encode(data).decode(),
        "idempotency_key": job.key(config.server_id, os.environ.get("PRINTER")),
    }
    if job.order_ref():
        body["order_ref"] = job.order_ref()
    if job.copies > 1:
        reporter.warning(f"copies={job.copies}: receiptd prints one original; a cashier "
                         "asks for marked copies (receiptctl reprint)")
    receipt, replayed = submit(client, device.printer, body, reporter)
    if isinstance(receipt, int):
        return receipt
    receipt_id = int(receipt["id"])
    reporter.info(f"receipt {receipt_id} "
                  f"{'already accepted (CUPS retry)' if replayed else 'accepted'} by receiptd "
                  f"for printer {device.printer}; waiting for it to print")
    state = follow(client, stream, reporter, device.printer, receipt_id)
    if state == "printed":
        reporter.printed()
        reporter.info(f"receipt {receipt_id} printed")
        return CUPS_BACKEND_OK
    reporter.error(f"receipt {receipt_id} {state} in receiptd"
                   + (" (it cannot be printed from the journal)" if state == "failed" else ""))
    return CUPS_BACKEND_CANCEL


def submit(client: Client, printer: str, body: dict[str, Any],
           reporter: Reporter) -> tuple[dict[str, Any] | int, bool]:
    """The accepted receipt and whether it was a replay; or the exit code when receiptd
    refuses the job for good. Waits, retrying, for as long as receiptd is down or busy (like
    CUPS's own network backends wait for their printer): the job keeps its place in the queue
    and the same idempotency key makes every attempt one receipt."""
    attempt = 0
    while True:
        try:
            response = client.http.post(f"/v1/printers/{printer}/receipts", json=body,
                                        headers={"X-Receiptd-Source": "cups"})
        except httpx.HTTPError as exc:
            error = unreachable(exc)
        else:
            if response.status_code < 400:
                reporter.show(reporter.shown - {CONNECTING})
                return response.json(), response.status_code == 200
            error = error_of(response)
        if error.status in _SETUP_STATUSES:
            raise error
        if error.status in (413, 422):
            # These bytes can never be accepted (too large, refused commands, too much paper).
            reporter.error(f"receiptd refused the job: {error}")
            return CUPS_BACKEND_CANCEL, False
        if error.status not in TRANSIENT:
            # 409: the key was used for other bytes, so this is not that job's retry. Never
            # print it under a guess: the queue's error policy (stop-printer by default)
            # keeps the job for a person. Likewise any answer this backend does not expect.
            reporter.error(f"receiptd refused the job: {error}")
            return CUPS_BACKEND_FAILED, False
        reporter.show(reporter.shown | {CONNECTING})
        reporter.info(f"waiting for receiptd: {error}")
        time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
        attempt += 1


if __name__ == "__main__":
    sys.exit(main())
