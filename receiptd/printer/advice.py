"""What each printer state means to a person: a category and a hint in English and Chinese."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from receiptd.printer.states import PrinterState, Snapshot


@dataclass(frozen=True)
class Advice:
    category: str
    en: str
    zh: str


ADVICE: dict[PrinterState, Advice] = {
    PrinterState.UNKNOWN: Advice("connection", "Connecting to the printer…", "正在连接打印机…"),
    PrinterState.ONLINE: Advice("none", "Ready.", "就绪。"),
    PrinterState.PAPER_NEAR_END: Advice(
        "consumable", "Paper is running low: have a new roll ready.", "纸张即将用完：请准备新纸卷。"
    ),
    PrinterState.PAPER_OUT: Advice(
        "consumable", "Paper is out: load a new roll and close the cover.",
        "缺纸：请装入新纸卷并合上盖子。",
    ),
    PrinterState.COVER_OPEN: Advice(
        "operator", "The cover is open: close it firmly.", "打印机盖已打开：请合紧盖子。"
    ),
    PrinterState.CUTTER_ERROR: Advice(
        "hardware",
        "Cutter error: open the cover, remove jammed paper at the cutter, close the cover, "
        "then recover the printer from receiptd (receiptctl recover).",
        "切刀故障：打开盖子，清除切刀处卡纸，合上盖子，"
        "然后在 receiptd 中恢复打印机（receiptctl recover）。",
    ),
    PrinterState.MECHANICAL_ERROR: Advice(
        "hardware",
        "Paper jam: open the cover, remove the jammed paper, close the cover, then recover "
        "the printer from receiptd (receiptctl recover).",
        "卡纸：打开盖子，取出卡住的纸，合上盖子，"
        "然后在 receiptd 中恢复打印机（receiptctl recover）。",
    ),
    PrinterState.AUTO_RECOVERABLE_ERROR: Advice(
        "hardware", "Print head too hot: wait; printing resumes by itself when it cools.",
        "打印头过热：请稍候，冷却后会自动继续打印。",
    ),
    PrinterState.UNRECOVERABLE_ERROR: Advice(
        "hardware", "Printer hardware error: switch the printer off and on; call service if it "
        "persists.", "打印机硬件故障：请关闭再打开打印机电源；如仍有问题请联系维修。",
    ),
    PrinterState.OFFLINE: Advice(
        "connection", "Printer not reachable: check its power, cable or network.",
        "打印机无法连接：请检查电源、数据线或网络。",
    ),
}




def describe(snapshot: Snapshot) -> dict[str, Any]:
    advice = ADVICE[snapshot.state]
    return {"category": advice.category, "hint": {"en": advice.en, "zh": advice.zh}}
