"""A fake market and a bench for the order desk's tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kit.clock import IST, ManualClock, NseCalendar
from kit.sim.orders import OrderDesk

CLIENT = "S1234567"
OTHER_CLIENT = "R7654321"
START = datetime(2026, 12, 3, 10, 0, tzinfo=IST)  # a Thursday, in the session


@dataclass(frozen=True)
class FakeInstrument:
    token: str
    symbol: str
    name: str
    exchange: str = "NSE"
    lot_size: int = 1
    tick_size: float = 0.05


SBIN = FakeInstrument("3045", "SBIN-EQ", "SBIN")
INFY = FakeInstrument("1594", "INFY-EQ", "INFY")
LOTS = FakeInstrument("50001", "LOTS-EQ", "LOTS", lot_size=25)


class FakeMarket:
    """Prices set by the test; every question about a price is recorded."""

    def __init__(self) -> None:
        self.calendar = NseCalendar()
        self.instruments = {i.token: i for i in (SBIN, INFY, LOTS)}
        self.prices = {SBIN.token: 800.0, INFY.token: 1500.0, LOTS.token: 100.0}
        self.asked: list[tuple[str, float]] = []

    def get(self, token: str) -> FakeInstrument | None:
        return self.instruments.get(token)

    def by_symbol(self, symbol: str) -> FakeInstrument | None:
        found = [i for i in self.instruments.values() if i.symbol == symbol]
        return found[0] if found else None

    def price(self, token: str, at_s: float) -> float:
        self.asked.append((token, at_s))
        return self.prices[token]


def body(**fields: object) -> dict[str, object]:
    """A valid placeOrder body (BUY 10 SBIN-EQ at MARKET, INTRADAY), changed by
    ``fields``; a field set to None is left out."""
    params: dict[str, object] = {
        "variety": "NORMAL",
        "tradingsymbol": SBIN.symbol,
        "symboltoken": SBIN.token,
        "transactiontype": "BUY",
        "exchange": "NSE",
        "ordertype": "MARKET",
        "producttype": "INTRADAY",
        "duration": "DAY",
        "price": "0",
        "squareoff": "0",
        "stoploss": "0",
        "quantity": "10",
    }
    params.update(fields)
    return {name: value for name, value in params.items() if value is not None}


@dataclass
class Bench:
    """A desk on a fake market and a manual clock, with short helpers."""

    start: datetime = START
    seed: int = 0
    market: FakeMarket = field(default_factory=FakeMarket)

    def __post_init__(self) -> None:
        self.clock = ManualClock(self.start)
        self.desk = OrderDesk(self.market, self.clock, seed=self.seed)

    def place(self, client: str = CLIENT, **fields: object) -> str:
        """Place an order; return its order id."""
        return self.desk.place(client, body(**fields))["orderid"]

    def entry(self, orderid: str, client: str = CLIENT) -> dict[str, str]:
        """The order-book entry of ``orderid``."""
        book = self.desk.order_book(client) or []
        return next(item for item in book if item["orderid"] == orderid)

    def status(self, orderid: str, client: str = CLIENT) -> str:
        return self.entry(orderid, client)["status"]

    def move(self, token: str, price: float, *, after_s: float = 1.0) -> int:
        """Let ``after_s`` pass, set the price, run the matcher; return the fills."""
        self.clock.advance(after_s)
        self.market.prices[token] = price
        return self.desk.match()
