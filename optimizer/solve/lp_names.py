"""Row and column names that HiGHS's LP writer accepts (``HighsSession.write``)."""

from __future__ import annotations

import re
from collections.abc import Hashable


def key_text(key: Hashable) -> str:
    """A row key as text for its name: ``3``, or ``3_eigenda`` for a tuple."""
    return "_".join(map(str, key)) if isinstance(key, tuple) else str(key)


class LpNames:
    """Names the LP format accepts, each used once.

    HiGHS drops every name of a kind (and writes ``r0``, ``c0``...) if one is invalid or
    repeated: brackets become parentheses, any character but letters, digits, ``_``,
    ``.`` and parentheses becomes ``_``, and a name made equal to another gets a suffix.
    """

    def __init__(self) -> None:
        self._used: set[str] = set()

    def of(self, label: str) -> str:
        """The LP name of ``label``."""
        name = _NOT_IN_NAMES.sub("_", label.replace("[", "(").replace("]", ")"))
        candidate, copy = name, 1
        while candidate in self._used:
            copy += 1
            candidate = f"{name}_{copy}"
        self._used.add(candidate)
        return candidate


_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_.()]")
