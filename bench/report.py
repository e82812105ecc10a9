"""Markdown tables and the target check for a bench/run.py result."""

from __future__ import annotations

from typing import Any

SYSTEMS = (("direct", "direct write"), ("cups", "CUPS (IPP)"), ("receiptd", "receiptd"))


def _ms(v: dict[str, Any] | None) -> str:
    if not v or v.get("median") is None:
        return "—"
    return f"{v['median']:.1f} / {v['p95']:.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if not a or not b else f"{a / b:.2f}×"


def _med(v: dict[str, Any] | None) -> float | None:
    return None if not v else v.get("median")


def latency_table(r: dict[str, Any], title: str) -> list[str]:
    rows = [
        ("submit → acknowledged", "ack", "ack", "ack"),
        ("submit → first byte at the printer", "first_byte", "first_byte", "first_byte"),
        ("submit → printed, confirmed to the client", "printed", None, "printed"),
        ("submit → CUPS job `completed` (bytes handed over)", None, "job_completed", None),
        ("submit → receipt cut at the printer", "cut", "cut", "cut"),
    ]
    out = [f"**{title}** — ms, median / p95", "",
           "| | direct write | CUPS (IPP) | receiptd | receiptd ÷ direct | CUPS ÷ receiptd |",
           "|---|---|---|---|---|---|"]
    d, c, x = r.get("direct", {}), r.get("cups", {}), r.get("receiptd", {})
    for label, kd, kc, kx in rows:
        vd = d.get(kd) if kd else None
        vc = c.get(kc) if kc else None
        vx = x.get(kx) if kx else None
        cells = [_ms(vd) if kd else "n/a", _ms(vc) if kc else "n/a (no confirmation)"
                 if kd == "printed" else "—", _ms(vx) if kx else "n/a"]
        out.append(f"| {label} | {' | '.join(cells)} | {_ratio(_med(vx), _med(vd))} | "
                   f"{_ratio(_med(vc), _med(vx))} |")
    if "cups_lp" in r:
        lp = r["cups_lp"]
        out.append(f"| CUPS via `lp` (a process per job): submit → ack / → cut | | "
                   f"{_ms(lp['ack'])} / {_ms(lp['cut'])} | | | |")
    return [*out, ""]


def burst_table(b: dict[str, Any], title: str) -> list[str]:
    n = sum(v["accepted"] + v["refused"] for v in b.values()) // len(b)
    out = [f"**Burst of {n} receipts from 8 clients**, {title} — receipts per second", "",
            "| | accepted | accept rate | printed | print rate | daemon CPU / peak RSS |",
            "|---|---|---|---|---|---|"]
    for key, label in SYSTEMS:
        if key in b:
            v = b[key]
            load = v.get("load")
            extra = f"{load['cpu_pct']:.0f} % / {load['rss_peak_mb']:.0f} MB" if load else ""
            out.append(f"| {label} | {v['accepted']} (refused {v['refused']}) | "
                       f"{v['accept_rate']:.0f}/s | {v['printed']} | "
                       f"{v['print_rate']:.1f}/s | {extra} |")
    if "cups" in b:
        out.append(f"| receiptd ÷ CUPS | | "
                   f"{_ratio(b['receiptd']['accept_rate'], b['cups']['accept_rate'])} | | "
                   f"{_ratio(b['receiptd']['print_rate'], b['cups']['print_rate'])} | |")
    out.append(f"| receiptd ÷ direct | | "
               f"{_ratio(b['receiptd']['accept_rate'], b['direct']['accept_rate'])} | | "
               f"{_ratio(b['receiptd']['print_rate'], b['direct']['print_rate'])} | |")
    out.append("")
    return out


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    out = [f"Run {m['date']} on {m['cpus']} CPUs ({m['cpu']}), Linux {m['kernel']}, "
           f"Python {m['python']}. Printer: bench/emuproc.py at "
           f"{res['speeds_mm_s']['realistic']:.0f} mm/s (realistic) or "
           f"{res['speeds_mm_s']['fast']:.0f} mm/s (fast: the host is the bottleneck).", ""]
    if res.get("cups_skipped"):
        out += [f"CUPS not measured: {res['cups_skipped']}", ""]
    if "latency" in res:
        out += latency_table(res["latency"], "One receipt at a time, printer at "
                             f"{res['speeds_mm_s']['realistic']:.0f} mm/s")
    if "fast" in res:
        out += latency_table(res["fast"], "One receipt at a time, fast printer (software "
                             "overhead only)")
    if "commit_floor" in res:
        out += [f"One durable SQLite commit (WAL, synchronous=FULL) on this disk: "
                f"{_ms(res['commit_floor'])} ms.", ""]
    for key, title in (("burst", f"fast printer ({res['speeds_mm_s']['fast']:.0f} mm/s): the "
                                 "host software is the bottleneck"),
                       ("burst_real", f"printer at {res['speeds_mm_s']['realistic']:.0f} mm/s: "
                                      "the paper is the bottleneck")):
        if key in res:
            out += burst_table(res[key], title)
    if "vport" in res:
        import vport as vport_bench

        out += ["**Virtual printer port** — the app's last byte to the first byte at the "
                "printer", "", vport_bench.table(res["vport"]), ""]
    if "faults" in res:
        f = res["faults"]
        rd = f["receiptd"]
        out += ["**Faults** — ms, median / p95", "",
                "| | receiptd | CUPS |", "|---|---|---|"]
        c = f.get("cups", {})

        def cups_cell(fault: str, key: str) -> str:
            if fault not in c:
                return "—"
            v = c[fault][key]
            seen = "; ".join(f"{o['ms']} ms: {o['state']} {','.join(o['reasons'])} "
                             f"“{o['message']}”" for o in c[fault]["observed"][:3])
            if v.get("median") is None:
                return f"no fault shown in {res['options']['cups_watch_s']} s (saw: {seen})"
            return f"{_ms(v)} (saw: {seen})"

        out.append(f"| paper out → visible to the client | {_ms(rd['paper_out_visible'])} | "
                   f"{cups_cell('paper_out', 'visible')} |")
        out.append(f"| printer silent → offline | {_ms(rd['silent_offline'])} | "
                   f"{cups_cell('silent', 'visible')} |")
        out.append(f"| paper loaded → held receipt's first byte | "
                   f"{_ms(rd['paper_resume_first_byte'])} | already in the printer's buffer |")
        out.append(f"| paper loaded → held receipt cut | {_ms(rd['paper_resume_cut'])} | "
                   f"{_ms(c.get('paper_out', {}).get('resume_cut'))} |")
        out.append(f"| printer answers again → held receipt's first byte | "
                   f"{_ms(rd['silent_resume_first_byte'])} | already in the socket buffers |")
        out.append(f"| printer answers again → held receipt cut | "
                   f"{_ms(rd['silent_resume_cut'])} | "
                   f"{_ms(c.get('silent', {}).get('resume_cut'))} |")
        out.append("")
    if "idle" in res:
        i = res["idle"]["receiptd"]
        out += ["**Resources (receiptd, one printer)**", "",
                f"- idle: {i['cpu_pct']:.2f} % CPU, {i['rss_peak_mb']:.1f} MB RSS "
                f"(over {i['seconds']:.0f} s, connected, polling the printer)"]
        if "cups" in res["idle"]:
            ci = res["idle"]["cups"]
            out.append(f"- cupsd idle, for reference: {ci['cpu_pct']:.2f} % CPU, "
                       f"{ci['rss_peak_mb']:.1f} MB RSS")
        if "burst" in res and res["burst"]["receiptd"].get("load"):
            ld = res["burst"]["receiptd"]["load"]
            out.append(f"- under the burst: {ld['cpu_pct']:.0f} % CPU (of one core), peak "
                       f"{ld['rss_peak_mb']:.1f} MB RSS")
        if "rss_end_mb" in res:
            out.append(f"- at the end of the run: {res['rss_end_mb']:.1f} MB RSS")
        if "ready" in res:
            out.append(f"- start → READY=1 (NOTIFY_SOCKET), fresh journal: "
                       f"{_ms(res['ready'])} ms")
        out.append("")
    if "scale" in res:
        s = res["scale"]
        out += [f"**Journal scale** — {s['n']:,} receipts ({s['size_mb']:.0f} MB, filled in "
                f"{s['fill_s']:.0f} s) vs empty; HTTP API, ms median / p95", "",
                "| | empty | full | full ÷ empty (median) |", "|---|---|---|---|"]
        for key, label in (("submit", "submit (durable 202)"),
                           ("order_lookup", "GET /v1/orders/{ref} (duplicate check)"),
                           ("order_search", "GET /v1/receipts?order_ref= (cashier)")):
            e, fu = s["empty"][key], s["full"][key]
            out.append(f"| {label} | {_ms(e)} | {_ms(fu)} | {_ratio(_med(fu), _med(e))} |")
        out.append(f"| start → /healthz answers, s | {s['empty']['start_s']} | "
                   f"{s['full']['start_s']} | |")
        if "background_check_s" in s["full"]:
            out.append(f"| the integrity check after READY, s (lookups measured after it) | "
                       f"{s['empty']['background_check_s']} | "
                       f"{s['full']['background_check_s']} | |")
        out.append("")
    out += targets(res)
    return "\n".join(out)


#: The 1 KB till receipt's bytes written over its life when the lean-and-fast targets were set
#: (4 KiB pages): the target is half of it.
TILL_1K_BEFORE_KIB = 161


def targets(res: dict[str, Any]) -> list[str]:
    """Every lean-and-fast target with what this run measured, and whether it is met."""
    rows: list[tuple[str, str, bool | None]] = []

    def add(name: str, value: str, ok: bool | None) -> None:
        rows.append((name, value, ok))

    for key, label in (("latency", "250 mm/s printer"), ("fast", "fast printer")):
        lat = res.get(key, {})
        if "cups" in lat:
            r = _med(lat["cups"]["ack"]) / _med(lat["receiptd"]["ack"])
            add(f"durable ack ≥ 1.0× CUPS's (aim 2×), {label}: CUPS ÷ receiptd", f"{r:.2f}×",
                r >= 1)
            r = _med(lat["cups"]["first_byte"]) / _med(lat["receiptd"]["first_byte"])
            add(f"first byte ≥ 3× sooner than CUPS, {label}", f"{r:.2f}×", r >= 3)
    for key, label in (("burst", "idle fast printer"), ("burst_real", "printing at 250 mm/s")):
        b = res.get(key, {})
        if "cups" in b:
            r = b["receiptd"]["accept_rate"] / b["cups"]["accept_rate"]
            add(f"burst accept rate ≥ CUPS's, {label}", f"{r:.2f}×", r >= 1)
    b = res.get("burst", {})
    if "cups" in b:
        r = b["receiptd"]["print_rate"] / b["cups"]["print_rate"]
        window = res.get("options", {}).get("send_window") or "default"
        add(f"burst print rate ≥ 2× CUPS, fast printer (send window {window})", f"{r:.2f}×",
            r >= 2)
    br = res.get("burst_real", {})
    if "direct" in br:
        r = br["receiptd"]["print_rate"] / br["direct"]["print_rate"]
        add("burst print rate at 250 mm/s within 2 % of the paper limit (direct write)",
            f"{100 * r:.1f} %", r >= 0.98)
    if "idle" in res:
        i = res["idle"]["receiptd"]
        add("RSS ≤ 40 MB idle, one printer", f"{i['rss_peak_mb']:.1f} MB", i["rss_peak_mb"] <= 40)
        add("idle CPU ≤ 0.2 %", f"{i['cpu_pct']:.2f} %", i["cpu_pct"] <= 0.2)
    if "rss_hwm_mb" in res:
        add("peak RSS under the burst ≤ 60 MB", f"{res['rss_hwm_mb']:.1f} MB",
            res["rss_hwm_mb"] <= 60)
    f = res.get("faults", {}).get("receiptd")
    if f:
        v = f["silent_offline"]
        ok = v["p95"] is not None and v["p95"] <= 2000 and not v.get("missing")
        add("offline detected ≤ 2 s (p95)", f"{v['p95']:.0f} ms" if v["p95"] is not None
            else "missing", ok)
    if "ready" in res:
        v = _med(res["ready"])
        add("start → READY ≤ 1 s, empty journal (median)", f"{v:.0f} ms", v <= 1000)
    s = res.get("scale")
    if s:
        start = s["full"].get("start_s")
        if start is not None:
            add(f"start → READY ≤ 1 s, {s['n']:,} receipts", f"{start:.2f} s", start <= 1)
        for key, label in (("submit", "submit"), ("order_lookup", "duplicate check")):
            r = _med(s["full"][key]) / _med(s["empty"][key])
            add(f"{label} with {s['n']:,} receipts ≤ 1.2× empty (median)", f"{r:.2f}×",
                r <= 1.2)
    w = res.get("writes", {})
    raw = next((v for k, v in w.items() if k.startswith("raw_250k")), None)
    till = next((v for k, v in w.items() if k.startswith("till_1k")), None)
    if raw:
        add("bytes written, 250 KB raw receipt ≤ 3× its size", f"{raw['ratio_to_size']}×",
            raw["ratio_to_size"] <= 3)
    if till:
        kib = till["total"] / 1024
        add(f"bytes written, 1 KB till receipt ≤ half of {TILL_1K_BEFORE_KIB} KiB",
            f"{kib:.0f} KiB ({till['blocks_4k']:.0f} blocks of 4 KiB)",
            kib <= TILL_1K_BEFORE_KIB / 2)
    out = ["**Targets**", "", "| target | measured | met |", "|---|---|---|"]
    out += [f"| {n} | {v} | {'yes' if ok else 'no' if ok is not None else '—'} |"
            for n, v, ok in rows]
    return [*out, ""]
