"""Access control: API keys with roles, short-lived tokens, per-key ingest rate limits, who may do what, and
the FastAPI dependencies that guard every route. One module per concern:

==================  ===================================================================================
``policy``          roles and what each may do (:class:`Principal`), the open-only-on-loopback rule
``api_keys``        API keys in Redis (hashed): create, list, revoke, look up
``tokens``          signed, short-lived console/sidebar tokens (:class:`TokenSigner`)
``rate_limit``      the per-key ingest token bucket (a Lua script in Redis)
``authenticator``   a credential -> a :class:`Principal` (:class:`Authenticator`)
``dependencies``    the FastAPI guards (:func:`require`, ``AnyCaller``, ``Admin``, ...)
==================  ===================================================================================
"""

from monitor.auth.api_keys import KeyRecord, KeyStore
from monitor.auth.authenticator import Authenticator, preflight
from monitor.auth.dependencies import Admin, AnyCaller, require, require_ingest, require_nudges
from monitor.auth.policy import OPEN_ID, Principal, Role, check_exposure, is_loopback
from monitor.auth.rate_limit import retry_after_header
from monitor.auth.tokens import TokenSigner

__all__ = [
    "OPEN_ID",
    "Admin",
    "AnyCaller",
    "Authenticator",
    "KeyRecord",
    "KeyStore",
    "Principal",
    "Role",
    "TokenSigner",
    "check_exposure",
    "is_loopback",
    "preflight",
    "require",
    "require_ingest",
    "require_nudges",
    "retry_after_header",
]
