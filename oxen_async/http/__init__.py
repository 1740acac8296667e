"""The HTTP layer: ``transport`` (the seam that moves bytes), ``session`` (auth, redirects,
the session's retries), ``retry`` (the one policy and transient classification) and
``decoding`` (bodies into typed values and typed errors). ``mock`` holds a socket-free
transport for tests."""

from .retry import NO_RETRY, RetryPolicy, is_transient
from .session import RequestOptions, Session
from .transport import AiohttpTransport, Request, Response, Transport

__all__ = [
    "NO_RETRY",
    "AiohttpTransport",
    "Request",
    "RequestOptions",
    "Response",
    "RetryPolicy",
    "Session",
    "Transport",
    "is_transient",
]
