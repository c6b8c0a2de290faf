"""The shop SDK: the generated calls of `generated/` with tokens, correlation ids and retries."""

from shop_sdk.client import PREFER_WAIT, Answer, ProblemError, Sdk
from shop_sdk.resilience import AsyncResilientTransport, ResilientTransport, RetryPolicy

__all__ = [
    "PREFER_WAIT",
    "Answer",
    "AsyncResilientTransport",
    "ProblemError",
    "ResilientTransport",
    "RetryPolicy",
    "Sdk",
]
