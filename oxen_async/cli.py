"""The ``oxen-async`` command: argument parsing, progress bars, summaries and exit codes.

No HTTP and no upload logic here: every command is a thin call into the library.

Exit codes:
  0  done (for ``upload``: every file committed or unchanged)
  1  the command ran but did not fully succeed (some files failed, or the run broke off midway)
  2  it could not start: bad arguments or configuration, a missing folder, repository or branch,
     a refused token, an unreachable host. Nothing was changed on the server.
  130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import config
from ._version import __version__
from .cli_render import (
    UploadBar,
    commit_line,
    download_json,
    download_summary,
    listing_lines,
    one_line,
    printable,
    upload_summary,
)
from .errors import (
    ConfigError,
    HTTPError,
    NotFoundError,
    OxenError,
    TransportError,
    UnauthorizedError,
)

if TYPE_CHECKING:
    from .client import OxenClient
    from .download import DownloadReport
    from .models import Commit, MetadataEntry
    from .upload.report import UploadProgress, UploadReport

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

PROG = "oxen-async"

# Oxen names are single URL path segments; we also refuse whitespace and control characters,
# which no real repository uses and which usually mean a shell quoting slip.
_NAME = re.compile(r"[^\s/\\\x00-\x1f\x7f]+")
# What oxen-server accepts when it creates a repository (both namespace and name).
_CREATABLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")


class UsageError(Exception):
    """A bad argument found before any network call; printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: usage text is for --help, not for every typo."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# --- argument checks (local only: they run before any network call) ---------------------------


def parse_repo(text: str, *, creating: bool = False) -> tuple[str, str]:
    """``NAMESPACE/REPO`` -> (namespace, name), or a UsageError naming what is wrong.

    With ``creating`` the server's stricter rule for new repositories applies too, so a name it
    would refuse fails here, before anything is sent.
    """
    namespace, sep, name = text.partition("/")
    if not sep or not _NAME.fullmatch(namespace) or not _NAME.fullmatch(name):
        raise UsageError(f"expected NAMESPACE/REPO (like 'ox/datasets'), got {text!r}")
    if namespace in (".", "..") or name in (".", ".."):
        raise UsageError(f"{text!r} is not a valid repository name")
    if creating:
        for part in (namespace, name):
            if not _CREATABLE_NAME.fullmatch(part):
                raise UsageError(
                    f"cannot create {text!r}: namespace and name need 2+ characters of "
                    f"A-Z a-z 0-9 _ . - and must start with a letter or digit (got {part!r})"
                )
    return namespace, name


def existing_dir(text: str) -> Path:
    path = Path(text)
    try:
        if not path.exists():
            raise UsageError(f"local folder {text!r} does not exist")
        if not path.is_dir():
            raise UsageError(f"{text!r} is not a folder (upload takes a folder)")
        if not os.access(path, os.R_OK | os.X_OK):
            raise UsageError(f"local folder {text!r} is not readable")
    except OSError as exc:  # e.g. a path component that is not a directory, or too long
        raise UsageError(f"cannot use local folder {text!r}: {exc.strerror or exc}") from exc
    return path


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


# --- the parser -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    # Options every remote command shares, accepted after the command name.
    remote = _Parser(add_help=False)
    remote.add_argument(
        "--host",
        help="server URL (default: $OXEN_HOST, oxen's auth_config.toml, http://localhost:3000)",
    )
    remote.add_argument(
        "--token",
        help="API token (default: $OXEN_AUTH_TOKEN or oxen's auth_config.toml; prefer those, "
        "a command-line token is visible to other local users)",
    )
    remote.add_argument("-v", "--verbose", action="store_true", help="log to stderr")

    parser = _Parser(
        prog=PROG,
        description="Fast bulk upload to, and download from, Oxen repositories.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    up = sub.add_parser(
        "upload",
        parents=[remote],
        help="upload a local folder as one commit",
        description="Upload LOCAL_DIR as one commit on a branch. Unchanged files are skipped, "
        "so running it again on a growing folder uploads only what is new.",
    )
    up.add_argument("local_dir", metavar="LOCAL_DIR")
    up.add_argument("repo", metavar="NAMESPACE/REPO")
    up.add_argument("--branch", default="main", help="target branch (default: main)")
    up.add_argument("--dest", default="", help="folder in the repository (default: its root)")
    up.add_argument("-m", "--message", help="commit message")
    up.add_argument("--create", action="store_true", help="create the repository if missing")
    up.add_argument("--author-name", help="commit author (default: oxen's user_config.toml)")
    up.add_argument("--author-email", help="author email (default: oxen's user_config.toml)")
    up.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    up.add_argument("--concurrency", type=positive_int, help="requests in flight")
    up.add_argument("--batch-mb", type=positive_float, help="target batch size in MiB")
    up.add_argument(
        "--no-resume", action="store_true", help="ignore the state kept by an interrupted run"
    )
    up.add_argument("--state-dir", help="where resumable upload state is kept")
    up.add_argument(
        "--delete",
        action="store_true",
        help="also remove files under --dest that the folder no longer has (like rsync --delete)",
    )
    up.set_defaults(run=cmd_upload)

    down = sub.add_parser(
        "download",
        parents=[remote],
        help="download a folder of a repository",
        description="Download a folder of a repository at a revision into LOCAL_DIR. Files "
        "already there with the same content are skipped; local files absent remotely stay.",
    )
    down.add_argument("repo", metavar="NAMESPACE/REPO")
    down.add_argument("local_dir", metavar="LOCAL_DIR")
    down.add_argument("--revision", default="main", help="branch or commit (default: main)")
    down.add_argument("--path", default="", help="folder in the repository (default: its root)")
    down.add_argument("--concurrency", type=positive_int, help="downloads in flight")
    down.add_argument(
        "--cache",
        action="store_true",
        help="serve files from, and add them to, the local content cache "
        "($OXEN_ASYNC_CACHE, else the user cache folder)",
    )
    down.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    down.set_defaults(run=cmd_download)

    ls = sub.add_parser(
        "ls",
        parents=[remote],
        help="list a folder of a repository",
        description="List one folder of a repository: folders first, then files with sizes.",
    )
    ls.add_argument("repo", metavar="NAMESPACE/REPO")
    ls.add_argument("path", metavar="PATH", nargs="?", default="")
    ls.add_argument("--revision", default="main", help="branch or commit (default: main)")
    ls.set_defaults(run=cmd_ls)

    log = sub.add_parser(
        "log",
        parents=[remote],
        help="show the latest commits of a branch",
        description="Show the latest commits of a branch or commit, newest first.",
    )
    log.add_argument("repo", metavar="NAMESPACE/REPO")
    log.add_argument("--revision", default="main", help="branch or commit (default: main)")
    log.add_argument("-n", "--max-count", type=positive_int, default=10, help="default: 10")
    log.set_defaults(run=cmd_log)

    serve = sub.add_parser(
        "serve",
        help="run the bundled Oxen-compatible server (for tests and demos)",
        description="Run the bundled Oxen-compatible server in the foreground until "
        "interrupted. Meant for tests and demos, not production.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=3000, help="default: 3000")
    serve.add_argument(
        "--data-dir", default="oxen-data", help="where repositories live (default: ./oxen-data)"
    )
    serve.add_argument("--auth-token", help="require this bearer token (default: no auth)")
    serve.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    serve.set_defaults(run=cmd_serve)
    return parser


# --- commands ---------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> OxenClient:
    # Imported late so that --help and serve do not pay for importing aiohttp.
    from .client import OxenClient

    return OxenClient(args.host, token=args.token)


def cmd_upload(args: argparse.Namespace, state: _RunState) -> int:
    # Everything that can be checked locally is checked before the first request, so a typo
    # costs no round trip and can never leave a half-made repository behind.
    local_dir = existing_dir(args.local_dir)
    namespace, name = parse_repo(args.repo, creating=args.create)
    author = config.resolve_author(args.author_name, args.author_email)
    if author is None:
        raise UsageError(
            "no commit author: pass --author-name and --author-email, or set name and email in "
            f"{config.config_dir() / 'user_config.toml'}"
        )
    # Only what the user set is passed on, so the library's defaults stay the one source.
    options: dict[str, Any] = {"branch": args.branch, "author": author}
    if args.dest:
        options["dest"] = args.dest
    if args.message:
        options["message"] = args.message
    if args.concurrency is not None:
        options["concurrency"] = args.concurrency
    if args.batch_mb is not None:
        options["batch_bytes"] = int(args.batch_mb * 1024 * 1024)
    if args.no_resume:
        options["resume"] = False
    if args.state_dir:
        options["state_dir"] = args.state_dir
    if args.delete:
        options["delete_missing"] = True
    # A bar only for a person watching: never into a pipe or a log, never beside --json.
    bar = UploadBar(sys.stderr if sys.stderr.isatty() and not args.json else None)

    report = asyncio.run(_upload(args, state, local_dir, namespace, name, bar, options))
    if args.json:
        sys.stdout.write(report.to_json().decode() + "\n")
    else:
        print("\n".join(upload_summary(report)))
    return EXIT_OK if report.ok else EXIT_FAILED


async def _upload(
    args: argparse.Namespace,
    state: _RunState,
    local_dir: Path,
    namespace: str,
    name: str,
    bar: UploadBar,
    options: dict[str, Any],
) -> UploadReport:
    def on_progress(progress: UploadProgress) -> None:
        state.started = state.started or progress.files_sent > 0 or progress.bytes_sent > 0
        bar.update(progress)

    async with _client(args) as oxen:
        if args.create:
            await oxen.repos.get_or_create(namespace, name)
        repo = oxen.repo(namespace, name)
        with bar:
            return await repo.upload_folder(str(local_dir), progress=on_progress, **options)


def cmd_download(args: argparse.Namespace, state: _RunState) -> int:
    namespace, name = parse_repo(args.repo)
    local_dir = Path(args.local_dir)
    if local_dir.exists() and not local_dir.is_dir():
        raise UsageError(f"{args.local_dir!r} exists and is not a folder")
    options: dict[str, Any] = {}
    if args.concurrency is not None:
        options["concurrency"] = args.concurrency
    if args.cache:
        from .download import ContentCache

        options["cache"] = ContentCache()

    async def download() -> DownloadReport:
        async with _client(args) as oxen:
            repo = oxen.repo(namespace, name)
            return await repo.download_folder(args.revision, args.path, local_dir, **options)

    report = asyncio.run(download())
    if args.json:
        sys.stdout.write(download_json(report) + "\n")
    else:
        print("\n".join(download_summary(report, args.repo)))
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_ls(args: argparse.Namespace, state: _RunState) -> int:
    namespace, name = parse_repo(args.repo)

    async def entries() -> list[MetadataEntry]:
        async with _client(args) as oxen:
            repo = oxen.repo(namespace, name)
            return [entry async for entry in repo.dirs.entries(args.revision, args.path)]

    for line in listing_lines(asyncio.run(entries())):
        print(line)
    return EXIT_OK


def cmd_log(args: argparse.Namespace, state: _RunState) -> int:
    namespace, name = parse_repo(args.repo)

    async def commits() -> list[Commit]:
        found: list[Commit] = []
        async with _client(args) as oxen:
            history = oxen.repo(namespace, name).commits.history(
                args.revision, page_size=min(args.max_count, 100)
            )
            async for commit in history:
                found.append(commit)
                if len(found) >= args.max_count:
                    break
        return found

    for commit in asyncio.run(commits()):
        print(commit_line(commit))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, state: _RunState) -> int:
    # Imported here: only this command needs the server (and its extra modules).
    from .testing import run_server

    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    auth = "token required" if args.auth_token else "no auth"

    def ready(url: str) -> None:
        # Said once the port is bound, so a script can wait for this line.
        print(
            f"{PROG}: serving {url} with data in {data_dir.resolve()} ({auth}); Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )

    run_server(args.host, args.port, data_dir, args.auth_token, ready=ready)
    return EXIT_OK


# --- running and error reporting --------------------------------------------------------------


class _RunState:
    """What the error handler needs to know about a command that raised."""

    def __init__(self) -> None:
        # Whether anything reached the server: an error after that is a partial run (exit 1),
        # an error before it means nothing happened (exit 2).
        self.started = False


def _secrets(args: argparse.Namespace) -> list[str]:
    """Every token this run may use, so no error text can print one (a server may echo it)."""
    found = [getattr(args, "token", None), getattr(args, "auth_token", None)]
    found.append(os.environ.get(config.TOKEN_ENV))
    with contextlib.suppress(OxenError):
        found.append(config.token_for_host(config.resolve_host(getattr(args, "host", None))))
    return [s for s in found if s]


def _describe(exc: BaseException) -> str:
    """One line that names the problem in the user's terms."""
    if isinstance(exc, UsageError | ConfigError):
        return str(exc)
    if isinstance(exc, UnauthorizedError):
        return (
            f"the server refused the token ({exc.status}: {exc.message}); "
            f"check --token or ${config.TOKEN_ENV} [{exc.method} {exc.url}]"
        )
    if isinstance(exc, NotFoundError):
        return f"not found: {exc.message} [{exc.method} {exc.url}]"
    if isinstance(exc, TransportError):
        return f"cannot reach the server: {exc.message} [{exc.method} {exc.url}]"
    if isinstance(exc, HTTPError):
        return f"the server answered {exc.status}: {exc.message} [{exc.method} {exc.url}]"
    if isinstance(exc, OSError):
        where = f" {exc.filename!r}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return f"{type(exc).__name__}: {exc}"


def _report_error(exc: BaseException, secrets: list[str]) -> None:
    text = one_line(_describe(exc))
    for secret in secrets:
        text = text.replace(secret, "<token>")
    print(f"{PROG}: error: {printable(text)}", file=sys.stderr)


def _setup_logging(verbose: bool) -> None:
    if not verbose:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("oxen_async")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def main(argv: Sequence[str] | None = None) -> int:
    # File names can hold anything; never crash printing one to a terminal in another encoding.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    _setup_logging(args.verbose)
    state = _RunState()
    try:
        command: Callable[[argparse.Namespace, _RunState], int] = args.run
        return command(args, state)
    except KeyboardInterrupt:
        # An interrupted upload keeps its state (unless --no-resume): say how to go on.
        hint = ""
        if args.command == "upload" and not args.no_resume:
            hint = " (run the same command again to resume)"
        print(f"{PROG}: interrupted{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UsageError, OxenError, OSError) as exc:
        _report_error(exc, _secrets(args))
        return EXIT_FAILED if state.started else EXIT_USAGE
    except Exception as exc:
        # A bug: still one line by default, the traceback only when asked for with -v.
        if args.verbose:
            logging.getLogger("oxen_async").exception("unexpected error")
        _report_error(exc, _secrets(args))
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
