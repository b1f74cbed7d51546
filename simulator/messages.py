"""Error-message text: one line whatever the input holds, and no longer than a budget.

Shared by the configuration errors (`config.py`) and the data-set errors (`training/data.py`).
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # what may end a line (str.splitlines) or hide


def one_line(text: str, limit: int) -> str:
    """`text` on one line (control characters escaped, as a path or key may hold a newline), and if it is
    over `limit` bytes of UTF-8, its start and end joined by '...'."""
    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
    data = text.encode("utf-8", "backslashreplace")
    if len(data) <= limit:
        return text
    keep = max(limit - 3, 2)
    head = data[: keep * 2 // 3].decode("utf-8", "ignore")
    tail = data[len(data) - (keep - keep * 2 // 3):].decode("utf-8", "ignore")
    return f"{head}...{tail}"
