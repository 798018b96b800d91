"""An account of the simulator: cash, the day's positions, margin, P&L and RMS.

Positions are kept per (token, producttype) with average-cost accounting: a fill
in the direction of the position moves its average price; a fill against it
realises ``closed quantity x (fill price - average price)`` and, if it turns the
position over, opens the rest at the fill price.

Margin, as the desk's simple model of Angel One's RMS:

- an order or a position blocks ``quantity x price x rate``, where the rate is
  20 % for INTRADAY and BO (5x leverage) and 100 % for DELIVERY, CARRYFORWARD
  and MARGIN;
- ``availablecash`` is the opening cash plus realised P&L;
- the margin still available (``net``) is that cash, less what open orders and
  open positions block, less unrealised losses (profits count once realised).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kit.sim.order_records import rupees

DEFAULT_CASH_RUPEES = 100_000.0

MARGIN_RATE: dict[str, float] = {
    "INTRADAY": 0.2,
    "BO": 0.2,
    "DELIVERY": 1.0,
    "CARRYFORWARD": 1.0,
    "MARGIN": 1.0,
}

PriceOf = Callable[[str], float]
"""The last traded price of a token, in rupees, at the instant being valued."""


@dataclass
class Position:
    """The day's trading in one instrument under one product type."""

    token: str
    symbol: str
    name: str
    exchange: str
    producttype: str
    lot_size: int
    buy_qty: int = 0
    sell_qty: int = 0
    buy_rupees: float = 0.0
    sell_rupees: float = 0.0
    net_qty: int = 0
    net_avg_rupees: float = 0.0
    realised_rupees: float = 0.0

    def apply_fill(self, side: str, quantity: int, price_rupees: float) -> None:
        """Book a fill of ``quantity`` at ``price_rupees``."""
        if side == "BUY":
            self.buy_qty += quantity
            self.buy_rupees += quantity * price_rupees
            signed = quantity
        else:
            self.sell_qty += quantity
            self.sell_rupees += quantity * price_rupees
            signed = -quantity

        # Adding to the position (or opening it) moves the average price.
        if self.net_qty == 0 or (self.net_qty > 0) == (signed > 0):
            held = abs(self.net_qty)
            total_cost = held * self.net_avg_rupees + quantity * price_rupees
            self.net_avg_rupees = total_cost / (held + quantity)
            self.net_qty += signed
            return

        # Reducing it realises P&L on the closed part; the rest opens anew.
        direction = 1 if self.net_qty > 0 else -1
        closed = min(quantity, abs(self.net_qty))
        self.realised_rupees += (
            closed * (price_rupees - self.net_avg_rupees) * direction
        )
        self.net_qty += signed
        if self.net_qty == 0:
            self.net_avg_rupees = 0.0
        elif (self.net_qty > 0) != (direction > 0):
            self.net_avg_rupees = price_rupees

    def unrealised_rupees(self, ltp_rupees: float) -> float:
        return self.net_qty * (ltp_rupees - self.net_avg_rupees)

    def margin_rupees(self) -> float:
        """What the open quantity blocks."""
        return abs(self.net_qty) * self.net_avg_rupees * margin_rate(self.producttype)

    def item(self, ltp_rupees: float) -> dict[str, str]:
        """The position as one entry of getPosition's ``data`` (SMARTAPI.md §2.5)."""
        buy_avg = self.buy_rupees / self.buy_qty if self.buy_qty else 0.0
        sell_avg = self.sell_rupees / self.sell_qty if self.sell_qty else 0.0
        unrealised = self.unrealised_rupees(ltp_rupees)
        return {
            "exchange": self.exchange,
            "symboltoken": self.token,
            "producttype": self.producttype,
            "tradingsymbol": self.symbol,
            "symbolname": self.name,
            "instrumenttype": "",
            "priceden": "1",
            "pricenum": "1",
            "genden": "1",
            "gennum": "1",
            "precision": "2",
            "multiplier": "-1",
            "boardlotsize": str(self.lot_size),
            "buyqty": str(self.buy_qty),
            "sellqty": str(self.sell_qty),
            "buyamount": rupees(self.buy_rupees),
            "sellamount": rupees(self.sell_rupees),
            "symbolgroup": "EQ",
            "strikeprice": "-1",
            "optiontype": "",
            "expirydate": "",
            "lotsize": str(self.lot_size),
            "cfbuyqty": "0",
            "cfsellqty": "0",
            "cfbuyamount": "0.00",
            "cfsellamount": "0.00",
            "buyavgprice": rupees(buy_avg),
            "sellavgprice": rupees(sell_avg),
            "avgnetprice": rupees(self.net_avg_rupees),
            "netvalue": rupees(self.sell_rupees - self.buy_rupees),
            "netqty": str(self.net_qty),
            "totalbuyvalue": rupees(self.buy_rupees),
            "totalsellvalue": rupees(self.sell_rupees),
            "cfbuyavgprice": "0.00",
            "cfsellavgprice": "0.00",
            "totalbuyavgprice": rupees(buy_avg),
            "totalsellavgprice": rupees(sell_avg),
            "netprice": rupees(self.net_avg_rupees),
            "ltp": rupees(ltp_rupees),
            "pnl": rupees(self.realised_rupees + unrealised),
            "realised": rupees(self.realised_rupees),
            "unrealised": rupees(unrealised),
        }


def margin_rate(producttype: str) -> float:
    """The share of an order's value blocked as margin for ``producttype``."""
    return MARGIN_RATE[producttype]


@dataclass
class Account:
    """One client code's money and positions."""

    cash_rupees: float = DEFAULT_CASH_RUPEES
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)

    def position(self, token: str, producttype: str) -> Position | None:
        return self.positions.get((token, producttype))

    def add_position(self, position: Position) -> Position:
        return self.positions.setdefault(
            (position.token, position.producttype), position
        )

    def realised_rupees(self) -> float:
        return sum(p.realised_rupees for p in self.positions.values())

    def unrealised_rupees(self, price_of: PriceOf) -> float:
        return sum(
            p.unrealised_rupees(price_of(p.token))
            for p in self.positions.values()
            if p.net_qty
        )

    def positions_margin_rupees(self) -> float:
        return sum(p.margin_rupees() for p in self.positions.values())

    def available_rupees(
        self, orders_blocked_rupees: float, price_of: PriceOf
    ) -> float:
        """The margin left for new orders (RMS ``net``)."""
        cash = self.cash_rupees + self.realised_rupees()
        losses = min(0.0, self.unrealised_rupees(price_of))
        blocked = orders_blocked_rupees + self.positions_margin_rupees()
        return cash + losses - blocked

    def position_items(self, price_of: PriceOf) -> list[dict[str, str]]:
        return [p.item(price_of(p.token)) for p in self.positions.values()]

    def rms(self, orders_blocked_rupees: float, price_of: PriceOf) -> dict[str, str]:
        """getRMS's ``data`` (SMARTAPI.md §2.5); every value a string."""
        utilised = orders_blocked_rupees + self.positions_margin_rupees()
        return {
            "net": rupees(self.available_rupees(orders_blocked_rupees, price_of)),
            "availablecash": rupees(self.cash_rupees + self.realised_rupees()),
            "availableintradaypayin": "0.00",
            "availablelimitmargin": "0.00",
            "collateral": "0.00",
            "m2munrealized": rupees(self.unrealised_rupees(price_of)),
            "m2mrealized": rupees(self.realised_rupees()),
            "utiliseddebits": rupees(utilised),
            "utilisedspan": "0.00",
            "utilisedoptionpremium": "0.00",
            "utilisedholdingsales": "0.00",
            "utilisedexposure": "0.00",
            "utilisedturnover": "0.00",
            "utilisedpayout": "0.00",
        }
