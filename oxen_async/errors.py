"""One exception hierarchy for everything the library raises.

HTTP errors carry the method, the URL (never the token: it travels only in a header), the status
and the server's own message, so a caller can log them as they are.
"""

from __future__ import annotations


class OxenError(Exception):
    """Base of every error raised by oxen_async."""


class ConfigError(OxenError, ValueError):
    """Bad arguments or configuration (host, token, names, local paths)."""


class ClientStateError(OxenError, RuntimeError):
    """The client is used where it cannot work: not opened, closed, or on another event loop."""


class TransportError(OxenError, ConnectionError):
    """The request never got an HTTP answer: connection refused or reset, timeout, TLS."""

    def __init__(self, method: str, url: str, message: str, *, not_sent: bool = False) -> None:
        self.method = method
        self.url = url
        self.message = message
        # True when the request could not be written at all (a pooled connection the server
        # had closed): the server never saw it, so even a merge may be sent again.
        self.not_sent = not_sent
        self.tries = 1  # how often the session sent the request before giving up
        super().__init__(f"{method} {url}: {message}")


class HTTPError(OxenError):
    """The server answered with an error status."""

    def __init__(
        self,
        method: str,
        url: str,
        status: int,
        message: str,
        *,
        error_type: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.message = message
        self.error_type = error_type
        self.retry_after = retry_after
        self.tries = 1  # how often the session sent the request before giving up
        super().__init__(f"{method} {url} -> {status}: {message}")


class BadRequestError(HTTPError, ValueError):
    """400, 413, 415: the server refused the request as malformed."""


class UnprocessableError(HTTPError):
    """422: understood but not done (for a merge: nothing to commit)."""


class NothingToCommitError(UnprocessableError):
    """422 NoChanges: the workspace has no staged change against the branch."""


class UnauthorizedError(HTTPError, PermissionError):
    """401/403: missing or wrong token."""


class NotFoundError(HTTPError, LookupError):
    """404: the repository, branch, commit, workspace, path or version does not exist."""


class ConflictError(HTTPError):
    """409: the resource exists already, or the workspace is behind its branch."""


class AlreadyExistsError(ConflictError):
    """409 on create: the repository exists already."""


class UpdateRequiredError(HTTPError):
    """426: the server refused this client's User-Agent as too old."""


class RateLimitedError(HTTPError):
    """429: the repository is busy (maintenance lock) or the caller is throttled."""


class ServerError(HTTPError):
    """5xx: the server failed."""


class FileChangedError(OxenError):
    """A local file changed (size or mtime) between hashing and sending."""


class IntegrityError(OxenError):
    """Downloaded or uploaded bytes do not match their content id."""


class ResponseTooLargeError(OxenError):
    """A response body larger than this client reads into memory: a JSON answer past
    ``http.body.MAX_WHOLE_BODY``, or a ranged read longer than the range asked for. Raised
    before the excess is read (a broken or hostile server could send gigabytes); not retried."""


class ManifestError(IntegrityError):
    """A blake3 manifest is unreadable or malformed, or a tree does not match it."""


def error_for_status(
    method: str,
    url: str,
    status: int,
    message: str,
    *,
    error_type: str | None = None,
    retry_after: float | None = None,
) -> HTTPError:
    """The exception class that matches an HTTP status (the one place that maps them)."""
    cls: type[HTTPError]
    if status in (401, 403):
        cls = UnauthorizedError
    elif status == 404:
        cls = NotFoundError
    elif status == 409:
        cls = AlreadyExistsError if "exists" in message.lower() else ConflictError
    elif status == 422:
        cls = NothingToCommitError if _is_no_changes(message, error_type) else UnprocessableError
    elif status == 426:
        cls = UpdateRequiredError
    elif status == 429:
        cls = RateLimitedError
    elif status >= 500:
        cls = ServerError
    elif status in (400, 405, 411, 413, 414, 415):
        cls = BadRequestError
    else:
        cls = HTTPError
    return cls(method, url, status, message, error_type=error_type, retry_after=retry_after)


def _is_no_changes(message: str, error_type: str | None) -> bool:
    return error_type == "no_changes" or message.replace("_", "").lower() == "nochanges"


def fatal_cause(exc: BaseException) -> str:
    """The one line a report gives for the error that stopped a run early."""
    if isinstance(exc, TransportError):
        return f"the server stopped answering: {exc.message} [{exc.method} {exc.url}]"
    return " ".join((str(exc) or type(exc).__name__).split())


def leaf_errors(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions inside a (nested) exception group, in order: a task group's failure as
    the causes a caller handles, not the group."""
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(leaf_errors(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out
