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
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import config, hosts, limits, paths
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
    ManifestError,
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
# The reader of stdout went away (``oxen-async ls | head -1``): what a process killed by
# SIGPIPE reports, quietly, as ``yes | head`` does.
EXIT_BROKEN_PIPE = 128 + 13

PROG = "oxen-async"

# Oxen names are single URL path segments; we also refuse whitespace and control characters,
# which no real repository uses and which usually mean a shell quoting slip.
_NAME = re.compile(r"[^\s/\\\x00-\x1f\x7f]+")
# What oxen-server accepts when it creates a repository (both namespace and name).
_CREATABLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")


class UsageError(Exception):
    """A bad argument found before any network call; printed as one line, exit 2."""


class _StdoutClosed(Exception):
    """Writing to stdout failed because its reader is gone: not an error worth a line."""


def out(text: str) -> None:
    """One line (or block) on stdout; a closed pipe becomes ``_StdoutClosed``, not an error."""
    try:
        sys.stdout.write(text + "\n")
    except BrokenPipeError:
        raise _StdoutClosed from None


def _silence_stdout() -> None:
    # Point stdout at /dev/null so the interpreter's own flush at exit cannot complain again.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


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


def source_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--source-option``; VALUE as JSON when it parses, else as text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def checked_source(url: str, options: dict[str, Any]) -> str:
    """A URL SOURCE, its protocol and folder checked before any request to the Oxen server."""
    from .upload.sources import open_source

    source = open_source(url, options)
    asyncio.run(source.check())
    return url


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


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def dask_address(text: str) -> str:
    """``tcp://host:port`` (a running scheduler) or ``local:N`` (N worker processes here)."""
    if text.startswith("local:"):
        count = text.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise argparse.ArgumentTypeError(f"local:N needs a positive N, got {text!r}")
        return text
    if "://" not in text:
        raise argparse.ArgumentTypeError(f"expected tcp://HOST:PORT or local:N, got {text!r}")
    return text


def _bounded(check: Callable[[int, str], int], what: str) -> Callable[[str], int]:
    """An argparse type: a whole number within ``limits`` (the one home for every bound)."""

    def parse(text: str) -> int:
        try:
            return check(_whole(text), what)
        except limits.LimitError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{what} ")) from None

    return parse


def batch_mib(text: str) -> int:
    """``--batch-mb`` as bytes: a positive, finite number of MiB within the batch bound."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    try:
        return limits.mebibytes(value, "batch size")
    except limits.LimitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def host_url(text: str) -> str:
    try:
        return hosts.normalize_host(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def max_delete(text: str) -> int:
    value = _whole(text)
    if not 0 <= value <= limits.MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be from 0 to {limits.MAX_COUNT:,}, got {value:,}")
    return value


# --- the parser -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    # Options every remote command shares, accepted after the command name.
    remote = _Parser(add_help=False)
    remote.add_argument(
        "--host",
        type=host_url,
        help="server URL (default: $OXEN_HOST, oxen's auth_config.toml, https://hub.oxen.ai)",
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
        help="upload a local folder (or an fsspec URL) as one commit",
        description="Upload SOURCE as one commit on a branch. Unchanged files are skipped, "
        "so running it again on a growing folder uploads only what is new. SOURCE is a local "
        "folder or an fsspec URL (s3://bucket/prefix, gs://..., memory://...), with "
        "credentials and endpoints from fsspec's configuration and the store's environment "
        "(AWS_ENDPOINT_URL, FSSPEC_S3_*), or --source-option.",
    )
    up.add_argument("local_dir", metavar="SOURCE")
    up.add_argument("repo", metavar="NAMESPACE/REPO")
    up.add_argument("--branch", default="main", help="target branch (default: main)")
    up.add_argument("--dest", default="", help="folder in the repository (default: its root)")
    up.add_argument("-m", "--message", help="commit message")
    up.add_argument("--create", action="store_true", help="create the repository if missing")
    up.add_argument("--author-name", help="commit author (default: oxen's user_config.toml)")
    up.add_argument("--author-email", help="author email (default: oxen's user_config.toml)")
    up.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    up.add_argument(
        "--concurrency",
        type=_bounded(limits.concurrency, "--concurrency"),
        help=f"requests in flight (1-{limits.MAX_CONCURRENCY}, default: 8)",
    )
    up.add_argument(
        "--batch-mb",
        type=batch_mib,
        dest="batch_bytes",
        help=f"target batch size in MiB (up to {limits.MAX_BATCH_BYTES // limits.MiB})",
    )
    up.add_argument(
        "--no-resume", action="store_true", help="ignore the state kept by an interrupted run"
    )
    up.add_argument("--state-dir", help="where resumable upload state is kept")
    up.add_argument(
        "--source-option",
        action="append",
        type=source_option,
        default=[],
        metavar="KEY=VALUE",
        help="a storage option of a URL SOURCE's filesystem (repeatable; VALUE is read as "
        "JSON when it parses, e.g. anon=true, else as text)",
    )
    up.add_argument(
        "--delete",
        action="store_true",
        help="also remove files under --dest that the folder no longer has (like rsync --delete)",
    )
    up.add_argument(
        "--dask",
        type=dask_address,
        metavar="ADDRESS",
        help="spread the upload over Dask workers, still one commit: a scheduler "
        "(tcp://HOST:PORT, the folder at the same path on every worker) or local:N "
        "(N worker processes here); needs the dask extra",
    )
    up.add_argument(
        "--max-delete",
        type=max_delete,
        metavar="N",
        help="with --delete: remove at most N files (default: refuse to remove all of them, or "
        "more than half once 10 or more would go)",
    )
    up.add_argument(
        "--force", action="store_true", help="with --delete: lift the default removal guard"
    )
    up.add_argument(
        "--manifest",
        nargs="?",
        const=True,
        metavar="PATH",
        help="also write a blake3 manifest (b3sum format) into the commit, listing every file "
        "under its folder: PATH relative to --dest (default: MANIFEST.b3sum; write "
        "--manifest=PATH before LOCAL_DIR)",
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
    down.add_argument(
        "--concurrency",
        type=_bounded(limits.concurrency, "--concurrency"),
        help=f"downloads in flight (1-{limits.MAX_CONCURRENCY}, default: 8)",
    )
    down.add_argument(
        "--cache",
        action="store_true",
        help="serve files from, and add them to, the local content cache "
        "($OXEN_ASYNC_CACHE, else the user cache folder)",
    )
    down.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    down.add_argument(
        "--verify-manifest",
        nargs="?",
        const=True,
        metavar="PATH",
        help="check the files against the blake3 manifest among them (PATH relative to --path, "
        "default: MANIFEST.b3sum); files that fail are deleted",
    )
    down.set_defaults(run=cmd_download)

    verify = sub.add_parser(
        "verify",
        help="check a local folder against a blake3 manifest",
        description="Check every line of MANIFEST (default: LOCAL_DIR/MANIFEST.b3sum) against "
        "the files of LOCAL_DIR, which its paths are relative to (as b3sum --check run there). "
        "Exit 0: all match; 1: a file is mismatched, missing or not listed; 2: bad input.",
    )
    verify.add_argument("local_dir", metavar="LOCAL_DIR")
    verify.add_argument("manifest", metavar="MANIFEST", nargs="?")
    verify.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    verify.set_defaults(run=cmd_verify)

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
    log.add_argument(
        "-n",
        "--max-count",
        type=_bounded(limits.count, "--max-count"),
        default=10,
        help="default: 10",
    )
    log.set_defaults(run=cmd_log)

    serve = sub.add_parser(
        "serve",
        help="run the bundled Oxen-compatible server (for tests and demos)",
        description="Run the bundled Oxen-compatible server in the foreground until "
        "interrupted. Meant for tests and demos, not production.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument(
        "--port",
        type=_bounded(limits.port, "--port"),
        default=3000,
        help="0-65535, 0 picks a free one (default: 3000)",
    )
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
    from .upload.sources import is_url

    storage_options = dict(args.source_option)
    local_dir: Path | str
    if is_url(args.local_dir):
        local_dir = checked_source(args.local_dir, storage_options)
    elif storage_options:
        raise UsageError("--source-option only applies to a URL SOURCE (s3://..., memory://...)")
    else:
        local_dir = existing_dir(args.local_dir)
    namespace, name = parse_repo(args.repo, creating=args.create)
    dest = paths.repo_path(args.dest)  # the name rule: 'x\\y' is refused, never read as x/y
    if (args.max_delete is not None or args.force) and not args.delete:
        raise UsageError("--max-delete and --force only apply with --delete")
    author = config.resolve_author(args.author_name, args.author_email)
    if author is None:
        raise UsageError(
            "no commit author: pass --author-name and --author-email, or set name and email in "
            f"{config.config_dir() / 'user_config.toml'}"
        )
    # Only what the user set is passed on, so the library's defaults stay the one source.
    options: dict[str, Any] = {"branch": args.branch, "author": author}
    if dest:
        options["dest"] = dest
    if args.message:
        options["message"] = args.message
    if args.concurrency is not None:
        options["concurrency"] = args.concurrency
    if args.batch_bytes is not None:
        options["batch_bytes"] = args.batch_bytes
    if args.no_resume:
        options["resume"] = False
    if args.state_dir:
        options["state_dir"] = args.state_dir
    if args.delete:
        options["delete_missing"] = True
    if args.max_delete is not None:
        options["max_delete"] = args.max_delete
    if args.force:
        options["force_delete"] = True
    if storage_options:
        options["storage_options"] = storage_options
    if args.manifest is not None:
        options["manifest"] = args.manifest
    if args.dask:
        report = _dask_upload(args, state, local_dir, namespace, name, options)
    else:
        # A bar only for a person watching: never into a pipe or a log, never beside --json.
        bar = UploadBar(sys.stderr if sys.stderr.isatty() and not args.json else None)
        report = asyncio.run(_upload(args, state, local_dir, namespace, name, bar, options))
    if args.json:
        out(report.to_json().decode())
    else:
        out("\n".join(upload_summary(report)))
    return EXIT_OK if report.ok else EXIT_FAILED


def _dask_upload(
    args: argparse.Namespace,
    state: _RunState,
    local_dir: Path | str,
    namespace: str,
    name: str,
    options: dict[str, Any],
) -> UploadReport:
    """The same upload spread over Dask workers (``oxen_async.dask``): one commit, one report."""
    from .dask import connect, ingest

    if options.pop("delete_missing", False):
        raise UsageError("--delete needs the whole folder in one upload: not with --dask")
    # The removal guard's options only mean something with --delete, refused above.
    options.pop("max_delete", None)
    options.pop("force_delete", None)
    if options.pop("manifest", None) is not None:
        raise UsageError("--manifest needs the whole folder in one upload: not with --dask")
    if options.pop("resume", True) is False:
        raise UsageError("--no-resume: a Dask upload always starts a fresh workspace")
    options.pop("batch_bytes", None)  # each shard keeps the default batch size
    dest = options.pop("dest", "")
    if args.create:

        async def create() -> None:
            async with _client(args) as oxen:
                await oxen.repos.get_or_create(namespace, name)

        asyncio.run(create())
    with connect(args.dask) as client:
        return ingest(
            client,
            [(local_dir, dest)],
            f"{namespace}/{name}",
            host=args.host,
            token=args.token,
            **options,
        )


async def _upload(
    args: argparse.Namespace,
    state: _RunState,
    local_dir: Path | str,
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
    # Up front, before any request: a target under a file would fail once per file.
    problem = paths.writable_target(args.local_dir)
    if problem is not None:
        raise UsageError(f"cannot download into {args.local_dir!r}: {problem}")
    paths.repo_path(args.path)  # the name rule, as on the way up
    options: dict[str, Any] = {}
    if args.concurrency is not None:
        options["concurrency"] = args.concurrency
    if args.cache:
        from .download import ContentCache

        options["cache"] = ContentCache()
    if args.verify_manifest is not None:
        options["verify_manifest"] = args.verify_manifest

    async def download() -> DownloadReport:
        async with _client(args) as oxen:
            repo = oxen.repo(namespace, name)
            return await repo.download_folder(args.revision, args.path, local_dir, **options)

    try:
        report = asyncio.run(download())
    except ManifestError:
        state.started = True  # the download happened; its check failed: exit 1, not 2
        raise
    if args.json:
        out(download_json(report))
    else:
        out("\n".join(download_summary(report, args.repo)))
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_verify(args: argparse.Namespace, state: _RunState) -> int:
    from .manifest import verify_manifest

    check = verify_manifest(args.local_dir, args.manifest)  # ManifestError: bad input (exit 2)
    for label, items in (
        ("MISMATCH", check.mismatched),
        ("MISSING", check.missing),
        ("NOT LISTED", check.extra),
    ):
        for path in items:
            out(f"{label}: {printable(path)}")
    out(printable(check.summary()))
    return EXIT_OK if check.ok else EXIT_FAILED


def cmd_ls(args: argparse.Namespace, state: _RunState) -> int:
    namespace, name = parse_repo(args.repo)

    async def entries() -> list[MetadataEntry]:
        async with _client(args) as oxen:
            repo = oxen.repo(namespace, name)
            return [entry async for entry in repo.dirs.entries(args.revision, args.path)]

    for line in listing_lines(asyncio.run(entries())):
        out(line)
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
        out(commit_line(commit))
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
    if isinstance(exc, UsageError | ConfigError | ManifestError):
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
        code = command(args, state)
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            raise _StdoutClosed from None
        return code
    except _StdoutClosed:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
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
