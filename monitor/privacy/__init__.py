"""Privacy: personal data redacted before a turn is stored or sent (:mod:`.redaction`)."""

from monitor.privacy.redaction import DEFAULT_KINDS, KINDS, PLACEHOLDERS, Finding, Kind, Redactor, parse_kinds

__all__ = ["DEFAULT_KINDS", "KINDS", "PLACEHOLDERS", "Finding", "Kind", "Redactor", "parse_kinds"]
