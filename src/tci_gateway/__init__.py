"""tci-gateway: trade-credit insurance broker integration gateway."""

__version__ = "0.1.0"
