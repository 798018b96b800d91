"""Market-data routes of the simulator: LTP, quote, scrip search (SMARTAPI.md §2.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kit.broker import wire
from kit.broker.routes import QUOTE_MAX_TOKENS, Mode
from kit.clock import IST
from kit.sim.instruments import Instrument
from kit.sim.market import Market
from kit.sim.replies import SOMETHING_WENT_WRONG, SimError

QUOTE_MODES = ("LTP", "OHLC", "FULL")


def ltp_data(market: Market, body: dict[str, Any], now_s: float) -> dict[str, Any]:
    """getLtpData: the last price and the day's figures of one instrument."""
    instrument = _known(market, str(body.get("symboltoken", "")))
    if body.get("exchange") != instrument.exchange:
        raise SimError("AB1009", "Symbol Not Found")
    tick = _quote_tick(market, instrument, now_s)
    return {
        "exchange": instrument.exchange,
        "tradingsymbol": instrument.symbol,
        "symboltoken": instrument.token,
        "open": tick.open,
        "high": tick.high,
        "low": tick.low,
        "close": tick.close,
        "ltp": tick.ltp,
    }


def quote_data(market: Market, body: dict[str, Any], now_s: float) -> dict[str, Any]:
    """market/v1/quote: up to 50 tokens across exchanges in LTP, OHLC or FULL."""
    mode = body.get("mode")
    groups = body.get("exchangeTokens")
    if mode not in QUOTE_MODES or not isinstance(groups, dict):
        raise SimError("AB1004", SOMETHING_WENT_WRONG)
    asked = [(ex, str(t)) for ex, tokens in groups.items() for t in tokens or []]
    if not asked or len(asked) > QUOTE_MAX_TOKENS:
        raise SimError("AB1004", f"Quote accepts 1 to {QUOTE_MAX_TOKENS} tokens")

    fetched, unfetched = [], []
    for exchange, token in asked:
        instrument = market.get(token)
        if instrument is None or instrument.exchange != exchange:
            unfetched.append(
                {
                    "exchange": exchange,
                    "symbolToken": token,
                    "message": "Symbol token cannot be empty",
                    "errorCode": "AB4018",
                }
            )
            continue
        tick = _quote_tick(market, instrument, now_s)
        fetched.append(_quote_item(instrument, tick, str(mode)))
    return {"fetched": fetched, "unfetched": unfetched}


def search_data(market: Market, body: dict[str, Any]) -> list[dict[str, str]]:
    """searchScrip: instruments of an exchange matching a text."""
    exchange, text = body.get("exchange"), str(body.get("searchscrip", "")).strip()
    if not text:
        raise SimError("AB1004", SOMETHING_WENT_WRONG)
    return [
        {"exchange": i.exchange, "tradingsymbol": i.symbol, "symboltoken": i.token}
        for i in market.search(text)
        if i.exchange == exchange
    ]


def _known(market: Market, token: str) -> Instrument:
    instrument = market.get(token)
    if instrument is None:
        raise SimError("AB1009", "Symbol Not Found")
    return instrument


def _quote_tick(
    market: Market, instrument: Instrument, now_s: float
) -> wire.SnapQuoteTick:
    tick = market.tick(instrument.token, Mode.SNAP_QUOTE, now_s)
    assert isinstance(tick, wire.SnapQuoteTick)
    return tick


def _quote_item(
    instrument: Instrument, tick: wire.SnapQuoteTick, mode: str
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "exchange": instrument.exchange,
        "tradingSymbol": instrument.symbol,
        "symbolToken": instrument.token,
        "ltp": tick.ltp,
    }
    if mode == "LTP":
        return item
    item.update(open=tick.open, high=tick.high, low=tick.low, close=tick.close)
    if mode == "OHLC":
        return item
    stamp = datetime.fromtimestamp(tick.exchange_ts_ms / 1000, IST)
    feed_time = stamp.strftime("%d-%b-%Y %H:%M:%S")
    change = round(tick.ltp - tick.close, 2)
    item.update(
        lastTradeQty=tick.last_traded_qty,
        exchFeedTime=feed_time,
        exchTradeTime=feed_time,
        netChange=change,
        percentChange=round(100 * change / tick.close, 2) if tick.close else 0.0,
        avgPrice=tick.avg_price,
        tradeVolume=tick.volume,
        opnInterest=tick.open_interest,
        lowerCircuit=tick.lower_circuit,
        upperCircuit=tick.upper_circuit,
        totBuyQuan=int(tick.total_buy_qty),
        totSellQuan=int(tick.total_sell_qty),
        depth={
            "buy": [_level(lv) for lv in tick.bids],
            "sell": [_level(lv) for lv in tick.asks],
        },
        **{"52WeekLow": tick.low_52w, "52WeekHigh": tick.high_52w},
    )
    return item


def _level(level: wire.DepthLevel) -> dict[str, Any]:
    return {"price": level.price, "quantity": level.quantity, "orders": level.orders}
