"""Fixtures of the delivery tests: a webhook receiver on a real port."""

from tests.delivery.webhook_receiver import receiver

__all__ = ["receiver"]
