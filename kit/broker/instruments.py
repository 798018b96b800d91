"""Trading symbols to Angel One tokens, and the symbols that do not exist.

:func:`resolve` asks ``searchScrip`` for each symbol the cache does not know
(one request a second, Angel One's limit, paced by the client) and keeps the
exact match of the trading symbol on the exchange. A symbol with no exact
match, or one the broker refuses, is returned as invalid with its reason: the
bot skips it with an event instead of failing (the user's recovery matrix).
Any other failure (network, session) propagates: the caller cannot trade
without knowing its symbols.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from kit.broker.models import ScripMatch
from kit.errors import InvalidSymbol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resolved:
    """Symbols found (symbol -> token) and those skipped (symbol -> reason)."""

    tokens: dict[str, str]
    invalid: dict[str, str]


class Searcher(Protocol):
    def search(self, text: str, *, exchange: str = "NSE") -> list[ScripMatch]: ...


def resolve(
    client: Searcher,
    symbols: Iterable[str],
    *,
    exchange: str = "NSE",
    cache: Mapping[str, str] | None = None,
) -> Resolved:
    """Find the token of every symbol; ``cache`` (symbol -> token) is trusted."""
    known = dict(cache or {})
    tokens: dict[str, str] = {}
    invalid: dict[str, str] = {}
    for symbol in symbols:
        if symbol in known:
            tokens[symbol] = known[symbol]
            continue
        try:
            matches = client.search(_search_text(symbol), exchange=exchange)
        except InvalidSymbol as exc:
            invalid[symbol] = f"refused by the broker: {exc}"
            continue
        exact = [m.token for m in matches if m.symbol.upper() == symbol.upper()]
        if exact:
            tokens[symbol] = exact[0]
        else:
            invalid[symbol] = f"no instrument {symbol} on {exchange}"
    if invalid:
        logger.warning("Symbols skipped: %s", ", ".join(sorted(invalid)))
    return Resolved(tokens, invalid)


def _search_text(symbol: str) -> str:
    """``SBIN-EQ`` is searched as ``SBIN``: the series is not part of the name."""
    base, _, series = symbol.rpartition("-")
    return base if base and series.isalpha() and len(series) <= 3 else symbol
