"""Ticks and candles: building, closing, keeping, repairing. No orders here.

- :mod:`kit.market.candles`: the tick-to-candle builder, its update rules, and
  the policy that closes a minute.
- :mod:`kit.market.candle_book`: the bounded candle book of one symbol, with
  provenance, the broker's candles merged in, gaps, and a pandas view.
"""

from kit.market.candle_book import CandleBook, CandleRevision
from kit.market.candles import (
    Candle,
    CandleBuilder,
    ClosePolicy,
    Provenance,
    TickCounts,
    TickOutcome,
    VolumeBasis,
)

__all__ = [
    "Candle",
    "CandleBook",
    "CandleBuilder",
    "CandleRevision",
    "ClosePolicy",
    "Provenance",
    "TickCounts",
    "TickOutcome",
    "VolumeBasis",
]
