"""The customer's self-service page (``/pay/{token}``): pay, promise, plan or dispute, no login."""

from dunning.retry.selfservice.routes import install, router

__all__ = ["install", "router"]
