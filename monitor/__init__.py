"""Calmwatch: a real-time monitor of customer anger and frustration in live chat."""

__version__ = "0.1.0"
