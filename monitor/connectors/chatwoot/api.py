"""The two Chatwoot API calls Calmwatch makes, with the ``api_access_token`` header Chatwoot authenticates by:
post a private note on a conversation, and read a conversation's recent messages (reconciliation)."""

from __future__ import annotations

from typing import Any

import httpx

from monitor import __version__
from monitor.errors import PlatformApiError


class ChatwootApi:
    def __init__(self, base_url: str, token: str, *, timeout_s: float = 10.0, client: httpx.AsyncClient | None = None):
        self._base = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            headers={"api_access_token": token, "user-agent": f"Calmwatch/{__version__}"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def _url(self, account_id: str, conversation_id: str) -> str:
        return f"{self._base}/api/v1/accounts/{account_id}/conversations/{conversation_id}/messages"

    async def post_note(self, account_id: str, conversation_id: str, content: str) -> str:
        """Post ``content`` as a private note (seen by agents only); returns Chatwoot's message id."""
        body = {"content": content, "message_type": "outgoing", "private": True}
        data = await self._call("POST", self._url(account_id, conversation_id), json=body)
        message_id = data.get("id") if isinstance(data, dict) else None
        if message_id is None:
            raise PlatformApiError("Chatwoot answered the note without a message id")
        return str(message_id)

    async def messages(self, account_id: str, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's most recent messages (Chatwoot returns the last 20), oldest first."""
        data = await self._call("GET", self._url(account_id, conversation_id))
        payload = data.get("payload") if isinstance(data, dict) else None
        return [m for m in payload if isinstance(m, dict)] if isinstance(payload, list) else []

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            response = await self._client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise PlatformApiError(f"Chatwoot did not answer {method} {url}: {type(exc).__name__} {exc}") from exc
        if response.status_code >= 300:
            retryable = response.status_code >= 500 or response.status_code == 429
            raise PlatformApiError(
                f"Chatwoot answered {method} {url} with HTTP {response.status_code}: {response.text[:200]}",
                retryable=retryable,
            )
        try:
            return response.json()
        except ValueError:
            raise PlatformApiError(f"Chatwoot answered {method} {url} with a body that is not JSON") from None
