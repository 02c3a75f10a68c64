"""The v1 HTTP and websocket API, one router per resource."""
