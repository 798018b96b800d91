"""kit: an intraday trading bot kit for Angel One SmartAPI that keeps itself running."""

__version__ = "0.1.0"
