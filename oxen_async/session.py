"""Compatibility home of the session: it lives in ``oxen_async.http`` now (transport, session,
retry, decoding). Every name this module had is re-exported here."""

from .http.decoding import DECODE_INLINE_LIMIT, decode
from .http.retry import (
    IDEMPOTENT_METHODS,
    NO_RETRY,
    NOT_PROCESSED,
    RETRY_STATUSES,
    RetryPolicy,
    is_transient,
    parse_retry_after,
)
from .http.session import (
    MAX_REDIRECTS,
    PROTOCOL_VERSION,
    USER_AGENT,
    BodyFactory,
    RequestOptions,
    Session,
    logger,
)

__all__ = [
    "DECODE_INLINE_LIMIT",
    "IDEMPOTENT_METHODS",
    "MAX_REDIRECTS",
    "NOT_PROCESSED",
    "NO_RETRY",
    "PROTOCOL_VERSION",
    "RETRY_STATUSES",
    "USER_AGENT",
    "BodyFactory",
    "RequestOptions",
    "RetryPolicy",
    "Session",
    "decode",
    "is_transient",
    "logger",
    "parse_retry_after",
]
