"""Fixtures of the API tests: a service with one key per role, and a webhook receiver on a real port."""

from tests.auth.conftest import secured
from tests.delivery.webhook_receiver import receiver

__all__ = ["receiver", "secured"]
