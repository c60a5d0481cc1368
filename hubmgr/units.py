"""Human-readable numbers, shared by the CLI, the TUI and the model cards. Stdlib only."""

from __future__ import annotations


def human_size(n: int | float | None) -> str:
    """1234567 -> '1.2 MB' (decimal units, like the Hub)."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def human_count(n: int | None) -> str:
    """105472 -> '105.5K'."""
    if n is None:
        return "-"
    for unit, div in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)
