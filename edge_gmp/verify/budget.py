"""Does a model fit a device: flash (artifact size), RAM (TFLM arena) and, optionally, accuracy."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edge_gmp.errors import UserError
from edge_gmp.verify.devices import Device


@dataclass(frozen=True)
class BudgetRow:
    budget: str  # "flash", "flash bar", "ram", "ram block" or "accuracy"
    needed: float  # bytes (flash/ram) or the minimum accuracy
    available: float  # bytes left after the device's reserve, or the measured accuracy
    unit: str  # "bytes" or "fraction"
    detail: str = ""

    @property
    def margin(self) -> float:
        return self.available - self.needed

    @property
    def ok(self) -> bool:
        return self.margin >= 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "margin": self.margin, "ok": self.ok}


def fmt_bytes(n: float) -> str:
    """Exact bytes with thousands separators: ``302,984 B``."""
    return f"{float(n):,.0f} B"


def _fmt(row: BudgetRow, value: float) -> str:
    return fmt_bytes(value) if row.unit == "bytes" else f"{value:.4f}"


@dataclass(frozen=True)
class BudgetReport:
    device: Device
    rows: tuple[BudgetRow, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def failures(self) -> list[str]:
        """One sentence per failing budget, naming it and by how much it is missed."""
        out = []
        for r in self.rows:
            if r.ok:
                continue
            if r.unit == "bytes":
                ratio = f", {r.needed / r.available:.2f}x what is available" if r.available else ""
                out.append(f"{r.budget} over budget by {fmt_bytes(-r.margin)}: needs {fmt_bytes(r.needed)}, "
                           f"{fmt_bytes(r.available)} available on {self.device.name} ({r.detail}{ratio})")
            else:
                out.append(f"accuracy {r.available:.4f} is {-r.margin:.4f} below the required {r.needed:.4f}")
        return out

    def table(self) -> str:
        head = ("budget", "needed", "available", "margin", "ok")
        lines = [head] + [(r.budget, _fmt(r, r.needed), _fmt(r, r.available),
                           ("+" if r.margin >= 0 else "-") + _fmt(r, abs(r.margin)), "yes" if r.ok else "NO")
                          for r in self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                         for line in lines)

    def to_dict(self) -> dict[str, Any]:
        return {"device": asdict(self.device), "ok": self.ok, "rows": [r.to_dict() for r in self.rows],
                "failures": self.failures()}


def check_budget(flash_bytes: int, ram_bytes: int, device: Device, accuracy: float | None = None,
                 min_accuracy: float | None = None, decompression_bytes: int = 0,
                 ram_at_least: bool = False, max_flash_bytes: int | None = None) -> BudgetReport:
    """Compare needs with what ``device`` offers after its reserves; UserError for impossible budgets.

    RAM is the tensor arena plus ``decompression_bytes`` (a separate buffer for tensors a compressed model
    decodes at run time); where the device's heap is fragmented each must also fit its largest contiguous
    block. ``ram_at_least``: the arena was not measured exactly because it did not fit the device.
    ``max_flash_bytes``: a flash bar of the user's below the device's (a row of its own)."""
    if flash_bytes < 0 or ram_bytes < 0 or decompression_bytes < 0:
        raise UserError(f"flash and RAM needs must be non-negative (got {flash_bytes}, {ram_bytes}, "
                        f"{decompression_bytes})")
    if device.flash_available <= 0 or device.ram_available <= 0:
        raise UserError(f"device {device.id}: the reserves ({device.flash_reserve_bytes} B flash, "
                        f"{device.ram_reserve_bytes} B RAM) leave nothing of its "
                        f"{device.flash_bytes} B flash / {device.sram_bytes} B SRAM")
    for label, value in (("min_accuracy", min_accuracy), ("accuracy", accuracy)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise UserError(f"{label} must be a fraction in [0, 1], got {value}")
    if min_accuracy is not None and accuracy is None:
        raise UserError("a minimum accuracy needs a measured accuracy (pass --dataset)")
    rows = [
        BudgetRow("flash", flash_bytes, device.flash_available, "bytes",
                  f"{fmt_bytes(device.flash_bytes)} flash - {fmt_bytes(device.flash_reserve_bytes)} reserve"),
        BudgetRow("ram", ram_bytes + decompression_bytes, device.ram_available, "bytes",
                  ("more than the arena the device could hold; " if ram_at_least else "")
                  + (f"arena {fmt_bytes(ram_bytes)} + decompression buffer {fmt_bytes(decompression_bytes)}; "
                     if decompression_bytes else "")
                  + f"{fmt_bytes(device.sram_bytes)} SRAM - {fmt_bytes(device.ram_reserve_bytes)} reserve"),
    ]
    if max_flash_bytes is not None:
        rows.append(BudgetRow("flash bar", flash_bytes, max_flash_bytes, "bytes", "export.max_flash_bytes"))
    if device.largest_block_bytes is not None:
        rows.append(BudgetRow("ram block", max(ram_bytes, decompression_bytes), device.largest_block_bytes, "bytes",
                              "the largest single allocation (arena or decompression buffer) against the "
                              "largest contiguous RAM block"))
    if accuracy is not None:
        rows.append(_accuracy_row(accuracy, min_accuracy))
    return BudgetReport(device, tuple(rows))


def check_image_budget(flash_bytes: int, ram_bytes: int, device: Device, accuracy: float | None = None,
                       min_accuracy: float | None = None, max_flash_bytes: int | None = None) -> BudgetReport:
    """A whole firmware image (code included, so no reserve) against the device: flash = .text + .rodata + .data,
    RAM = .data + .bss + the stack's high-water mark."""
    rows = [BudgetRow("flash", flash_bytes, device.flash_bytes, "bytes",
                      f"the whole image, code included, in {fmt_bytes(device.flash_bytes)} flash"),
            BudgetRow("ram", ram_bytes, device.sram_bytes, "bytes",
                      f".data + .bss + stack in {fmt_bytes(device.sram_bytes)} SRAM")]
    if max_flash_bytes is not None:
        rows.append(BudgetRow("flash bar", flash_bytes, max_flash_bytes, "bytes", "export.max_flash_bytes"))
    if accuracy is not None:
        rows.append(_accuracy_row(accuracy, min_accuracy))
    return BudgetReport(device, tuple(rows))


def _accuracy_row(accuracy: float, min_accuracy: float | None) -> BudgetRow:
    return BudgetRow("accuracy", min_accuracy if min_accuracy is not None else 0.0, accuracy, "fraction",
                     "no minimum set" if min_accuracy is None else "")
