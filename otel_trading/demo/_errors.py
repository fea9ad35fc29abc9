"""The simulated exchange's exceptions: ccxt's names and hierarchy (ccxt 4.x), so that the
ccxt instrumentation classifies them (``error.type``) as it would a real exchange's, and a
bot written against ccxt catches them with the same ``except`` clauses."""

from __future__ import annotations


class BaseError(Exception):
    """Every error of the simulated exchange."""


class ExchangeError(BaseError):
    """The venue answered, with a refusal."""


class AuthenticationError(ExchangeError):
    pass


class BadRequest(ExchangeError):
    pass


class BadSymbol(BadRequest):
    pass


class InsufficientFunds(ExchangeError):
    pass


class InvalidOrder(ExchangeError):
    pass


class OrderNotFound(InvalidOrder):
    pass


class OperationFailed(BaseError):
    """The request may not have reached the venue: retrying can help."""


class NetworkError(OperationFailed):
    pass


class DDoSProtection(NetworkError):
    pass


class RateLimitExceeded(NetworkError):
    pass


class RequestTimeout(NetworkError):
    pass


class ExchangeNotAvailable(NetworkError):
    pass


__all__ = [
    "AuthenticationError", "BadRequest", "BadSymbol", "BaseError", "DDoSProtection", "ExchangeError",
    "ExchangeNotAvailable", "InsufficientFunds", "InvalidOrder", "NetworkError", "OperationFailed",
    "OrderNotFound", "RateLimitExceeded", "RequestTimeout",
]
