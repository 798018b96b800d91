"""Trading: the strategy interface, indicators, the scanner, risk and brokers."""
