"""CSV text as the DCASE baselines write it; atomic writes come from :mod:`soundsentry.io`."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence


def csv_text(rows: Sequence[Sequence[object]]) -> str:
    """Rows as CSV text with ``\\n`` line ends, as ``csv.writer(f, lineterminator="\\n")`` in the DCASE baselines."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()
