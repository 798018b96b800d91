"""The simulator's own instrument master: NSE stocks and two indices.

Tokens, symbols and names follow Angel One's scrip master for the NSE cash
market; ``base_price`` is only where the seeded price path starts. A row of
:meth:`Instrument.master_row` has the master's JSON shape (SMARTAPI.md §6): all
strings, strike ``-1.000000`` for non-options, tick size in paise.
"""

from __future__ import annotations

from dataclasses import dataclass

from kit.broker.routes import EXCHANGE_TYPE, Exchange


@dataclass(frozen=True)
class Instrument:
    token: str
    symbol: str
    name: str
    base_price: float
    exchange: str = "NSE"
    lot_size: int = 1
    tick_size: float = 0.05  # rupees
    instrument_type: str = ""  # "" for equity, AMXIDX for an index
    daily_vol: float = 0.015  # the standard deviation of a day's return

    @property
    def exchange_type(self) -> int:
        return int(EXCHANGE_TYPE[Exchange(self.exchange)])

    @property
    def is_index(self) -> bool:
        return self.instrument_type == "AMXIDX"

    def master_row(self) -> dict[str, str]:
        return {
            "token": self.token,
            "symbol": self.symbol,
            "name": self.name,
            "expiry": "",
            "strike": "-1.000000",
            "lotsize": str(self.lot_size),
            "instrumenttype": self.instrument_type,
            "exch_seg": self.exchange,
            "tick_size": f"{self.tick_size * 100:.6f}",
        }


def _eq(token: str, name: str, price: float, vol: float = 0.015) -> Instrument:
    return Instrument(token, f"{name}-EQ", name, price, daily_vol=vol)


NSE_INSTRUMENTS: tuple[Instrument, ...] = (
    _eq("2885", "RELIANCE", 1290.0),
    _eq("11536", "TCS", 3480.0),
    _eq("1333", "HDFCBANK", 1640.0),
    _eq("1594", "INFY", 1520.0),
    _eq("4963", "ICICIBANK", 1270.0),
    _eq("3045", "SBIN", 815.0),
    _eq("1660", "ITC", 470.0, 0.012),
    _eq("1394", "HINDUNILVR", 2480.0, 0.012),
    _eq("10604", "BHARTIARTL", 1610.0),
    _eq("1922", "KOTAKBANK", 1760.0),
    _eq("11483", "LT", 3560.0),
    _eq("5900", "AXISBANK", 1150.0),
    _eq("317", "BAJFINANCE", 6900.0, 0.02),
    _eq("236", "ASIANPAINT", 2440.0),
    _eq("10999", "MARUTI", 11200.0),
    _eq("7229", "HCLTECH", 1580.0),
    _eq("3351", "SUNPHARMA", 1750.0),
    _eq("3506", "TITAN", 3300.0),
    _eq("3787", "WIPRO", 300.0),
    _eq("11532", "ULTRACEMCO", 11300.0),
    _eq("17963", "NESTLEIND", 2250.0, 0.01),
    _eq("2475", "ONGC", 250.0, 0.018),
    _eq("11630", "NTPC", 355.0),
    _eq("14977", "POWERGRID", 310.0),
    _eq("3456", "TATAMOTORS", 780.0, 0.02),
    _eq("3499", "TATASTEEL", 145.0, 0.02),
    _eq("11723", "JSWSTEEL", 950.0, 0.018),
    _eq("25", "ADANIENT", 2400.0, 0.025),
    _eq("15083", "ADANIPORTS", 1180.0, 0.02),
    _eq("2031", "M&M", 2950.0),
    _eq("16675", "BAJAJFINSV", 1640.0),
    _eq("13538", "TECHM", 1650.0),
    _eq("1363", "HINDALCO", 650.0, 0.018),
    _eq("20374", "COALINDIA", 390.0),
    _eq("1232", "GRASIM", 2600.0),
    _eq("881", "DRREDDY", 1250.0),
    _eq("694", "CIPLA", 1500.0),
    _eq("547", "BRITANNIA", 5400.0, 0.012),
    _eq("910", "EICHERMOT", 5600.0),
    _eq("1348", "HEROMOTOCO", 4500.0),
    _eq("526", "BPCL", 300.0, 0.018),
    _eq("10940", "DIVISLAB", 5900.0),
    _eq("157", "APOLLOHOSP", 7000.0),
    _eq("5258", "INDUSINDBK", 980.0, 0.022),
    _eq("21808", "SBILIFE", 1500.0),
    _eq("467", "HDFCLIFE", 660.0),
    _eq("3432", "TATACONSUM", 1050.0),
    _eq("16669", "BAJAJ-AUTO", 8600.0),
    _eq("11287", "UPL", 560.0, 0.02),
    _eq("2664", "PIDILITIND", 3000.0, 0.012),
    _eq("772", "DABUR", 520.0, 0.012),
    _eq("9819", "HAVELLS", 1600.0),
    _eq("3063", "VEDL", 440.0, 0.022),
    _eq("4668", "BANKBARODA", 245.0, 0.02),
    _eq("10666", "PNB", 105.0, 0.02),
    _eq("1624", "IOC", 140.0, 0.018),
    _eq("4717", "GAIL", 190.0, 0.018),
    _eq("14732", "DLF", 820.0, 0.02),
    Instrument("99926000", "Nifty 50", "NIFTY", 24500.0, lot_size=1,
               instrument_type="AMXIDX", daily_vol=0.009),
    Instrument("99926009", "Nifty Bank", "BANKNIFTY", 52500.0, lot_size=1,
               instrument_type="AMXIDX", daily_vol=0.011),
)  # fmt: skip
