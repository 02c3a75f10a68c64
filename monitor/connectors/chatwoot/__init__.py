"""Chatwoot, first class: account webhooks in (:mod:`.inbound`), nudges back as private notes (:mod:`.notes`)
through its API (:mod:`.api`), and reconciliation for the webhooks Chatwoot never retries (:mod:`.reconcile`).
The agent sidebar doubles as a Chatwoot Dashboard App (``/connectors/chatwoot/app``, docs/connectors.md)."""

from monitor.connectors.chatwoot.api import ChatwootApi
from monitor.connectors.chatwoot.inbound import ChatwootConnector, conversation_id, split_conversation_id
from monitor.connectors.chatwoot.notes import ChatwootNotes, Note, note_text
from monitor.connectors.chatwoot.reconcile import ChatwootReconciler

__all__ = [
    "ChatwootApi",
    "ChatwootConnector",
    "ChatwootNotes",
    "ChatwootReconciler",
    "Note",
    "conversation_id",
    "note_text",
    "split_conversation_id",
]
