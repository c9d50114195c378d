"""The stand-in's clock: wall time plus an offset that /_stripe/clock/advance moves forward (like a Stripe
test clock, but one for the whole stand-in), and the calendar arithmetic of billing periods."""

from __future__ import annotations

import calendar
import time
from datetime import datetime, timedelta, timezone


class Clock:
    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def now(self) -> int:
        return int(time.time() + self.offset)

    def set(self, timestamp: int) -> None:
        """Move to `timestamp`; never backwards (objects and events keep their order)."""
        self.offset = max(self.offset, timestamp - time.time())

    def back_to_wall_time(self) -> None:
        """For a test that moved time ahead and is done: what it made keeps its (future) times; what comes next
        is made at wall time again, so the next test starts where real Stripe would be."""
        self.offset = 0.0


def period_boundary(anchor: int, interval: str, count: int, k: int) -> int:
    """The start of the k-th period of a subscription anchored at `anchor` (k=0 is the anchor itself).

    Months are counted from the anchor, not from the previous boundary, so a subscription anchored on the
    31st bills on the 30th in April and back on the 31st in May, as Stripe does."""
    start = datetime.fromtimestamp(anchor, timezone.utc)
    if interval == "day":
        return int((start + timedelta(days=count * k)).timestamp())
    if interval == "week":
        return int((start + timedelta(weeks=count * k)).timestamp())
    months = count * k * (12 if interval == "year" else 1)
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def date_text(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%b %-d, %Y")
