"""The one way newsbot reads numbers written with digit groups: "12.000", "12 000", "12,000", "12000".

German writes thousands with a dot ("1.500"), English with a comma ("1,500"), typesetters with a
(thin or no-break) space ("12 000"); all are one number and normalise to its plain digits. BM25
tokenisation, near-duplicate detection, figure comparison and the grounding check all use this
module, so a number matches itself however an article spells it. A decimal comma stays
("1,5 Millionen"): only groups of exactly three digits after a leading group of one to three
count as thousands. The price is that a bare list of three-digit numbers ("100 200") reads as one
number, which prose practically never contains.
"""

from __future__ import annotations

import re

GROUP_SEPARATORS = ".,\u202f\u00a0 "  # dot, comma, narrow no-break space, no-break space, space
DIGIT_GROUPS = rf"[1-9]\d{{0,2}}(?:[{GROUP_SEPARATORS}]\d{{3}})+(?!\d)"
"""A number written in thousands groups, for use inside larger patterns (no groups of its own)."""

_DIGIT_GROUPS = re.compile(rf"(?<![\d.,]){DIGIT_GROUPS}")
_SEPARATOR = re.compile(rf"[{GROUP_SEPARATORS}]")


def join_digit_groups(text: str) -> str:
    """`text` with every number written in digit groups replaced by its plain digits ("1.500" -> "1500")."""
    return _DIGIT_GROUPS.sub(lambda match: _SEPARATOR.sub("", match.group(0)), text)
