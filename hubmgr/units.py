"""Human-readable numbers and text, shared by the CLI, the TUI and the model cards. Stdlib only."""

from __future__ import annotations

import unicodedata

# Control, format (bidi overrides, zero-width), line/paragraph separators, private and unassigned code points.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})


def printable(text: object) -> str:
    """``text`` safe to show a human: control and format characters become visible escapes (``\\x1b``).

    Tensor names, pickle globals, file names and remote messages come from files and servers we do
    not trust; raw, an ESC sequence, a carriage return or a bidi override could redraw the terminal
    (a fake "safety  safe"). Machine output (``--json``) keeps the raw strings.
    """
    text = str(text)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch == " " or unicodedata.category(ch) not in _HIDDEN:
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                       else f"\\U{code:08x}")
    return "".join(out)


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
