"""Fixtures of the privacy tests: a webhook receiver on a real port, and a service with one key per role."""

from tests.auth.conftest import secured
from tests.delivery.webhook_receiver import receiver

__all__ = ["receiver", "secured"]
