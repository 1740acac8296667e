"""Every way to check or show this project, each in its own fresh virtualenv.

    python3 -m pip install nox
    python3 -m nox -s demo        # the bulk upload end to end against the bundled server
    python3 -m nox -s tests       # the test suite (what CI runs)
    python3 -m nox -s lint typecheck bench
    python3 -m nox -s oxen-server tests-real   # build the real server (0.65.2), run the suite on it
    python3 -m nox -s bench-smoke # every benchmark for seconds on tiny data (what CI runs)
    python3 -m nox -s race race-download race-scale   # the real figures (a quiet machine)

Sessions use the Python that runs nox (3.11+), so a machine with one Python and pip is enough.
"""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).parent
BENCHMARKS = ROOT / "benchmarks"

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.error_on_missing_interpreters = True
# The stdlib venv: it needs nothing beyond the Python that runs nox.
nox.options.default_venv_backend = "venv"

# The test command that README.md documents; keep the two in step.
PYTEST = ["python", "-m", "pytest", "-ra"]
# Where the tests session leaves a JUnit report, which .ci/run reads to say which suites ran.
JUNIT = ROOT / ".nox" / "junit-tests.xml"


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite against the bundled Oxen-compatible server."""
    # Installed (not editable), so the tests also catch a file the wheel forgets to ship.
    session.install(".[test,dask]")
    JUNIT.unlink(missing_ok=True)  # a stale report must not speak for this run
    # Only exit 0 passes: pytest's 5 ("no tests collected") fails the session like any error,
    # so a broken collection can never look green.
    session.run(*PYTEST, f"--junitxml={JUNIT}", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, configured in pyproject.toml."""
    session.install(".[test]", "mypy>=1.10")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """The API reference from the docstrings (mkdocs + mkdocstrings) into .nox/site; fails on
    a broken reference (strict; never pass -q, which hides the warnings strict counts) or on
    a public name of ``oxen_async`` missing from the pages."""
    session.install(".", "mkdocs>=1.6", "mkdocstrings[python]>=0.26")
    # The docs' sources live under .ci/docs: the project's top level stays as it is.
    session.run("mkdocs", "build", "--strict", "-f", ".ci/docs/mkdocs.yml")
    session.run("python", ".ci/docs/check_reference.py")


def benchmark_scripts() -> list[Path]:
    """benchmarks/*.py that are benchmarks: not helpers (``_*.py``) and not the demo."""
    return sorted(
        p for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_") and p.name != "demo.py"
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark in benchmarks/ with its defaults; or one, with its own arguments:
    ``nox -s bench -- bench_upload --quick``."""
    session.install(".[bench]")
    scripts = benchmark_scripts()
    if not scripts:
        session.error("no benchmark scripts found in benchmarks/")
    runs: list[tuple[Path, list[str]]] = [(script, []) for script in scripts]
    if session.posargs:
        # Scripts take different options, so arguments go to one named script only.
        wanted, *rest = session.posargs
        chosen = [p for p in scripts if wanted in (p.name, p.stem)]
        if not chosen:
            names = ", ".join(p.stem for p in scripts)
            session.error(f"no benchmark named {wanted!r}; choose one of: {names}")
        runs = [(chosen[0], rest)]
    for script, args in runs:
        session.run("python", str(script.relative_to(ROOT)), *args)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job end to end: serve, generate a folder, upload it, rerun, list, log, stop."""
    session.install(".")
    session.run("python", "benchmarks/demo.py", *session.posargs)


@nox.session(name="tests-torch")
def tests_torch(session: nox.Session) -> None:
    """The PyTorch datasets through a real DataLoader (fork and spawn workers) against the
    bundled server. Its own session: torch is several GB, so the main suite leaves it out."""
    session.install(".[test,torch]")
    # The tests importorskip torch; here a missing torch must fail, not skip them all.
    session.run("python", "-c", "import torch, fsspec; print('torch', torch.__version__)")
    session.run(*PYTEST, "tests/oxen_torch", *session.posargs)


@nox.session
def interop(session: nox.Session) -> None:
    """The official client (oxenai 0.65.1) runs its remote flows against the bundled server."""
    session.install(".[test]", "oxenai==0.65.1")
    session.run(*PYTEST, "tests/interop", *session.posargs)


# --- the real oxen-server ----------------------------------------------------------------------
REAL_VERSIONS = ("0.65.2", "0.53.4")


def junit_real(version: str) -> Path:
    return ROOT / ".nox" / f"junit-tests-real-{version}.xml"


@nox.session(name="oxen-server", venv_backend="none")
def oxen_server(session: nox.Session) -> None:
    """Build and install a real oxen-server with cargo into its own prefix (default 0.65.2;
    ``-- 0.53.4`` for the older line). Idempotent. Long on 2 cores: start it early."""
    version = session.posargs[0] if session.posargs else REAL_VERSIONS[0]
    session.run("bash", str(ROOT / ".ci" / "build-oxen-server"), version, external=True)


@nox.session(name="tests-real")
def tests_real(session: nox.Session) -> None:
    """The same suite against a real oxen-server (fake_only tests are skipped): the newest
    installed, or the version in $OXEN_ASYNC_REAL_VERSION."""
    import os

    session.install(".[test,dask]")
    version = os.environ.get("OXEN_ASYNC_REAL_VERSION", REAL_VERSIONS[0])
    report = junit_real(version)
    report.unlink(missing_ok=True)
    session.run(
        *PYTEST,
        "--oxen-server=real",
        f"--oxen-server-version={version}",
        f"--junitxml={report}",
        *session.posargs,
    )


# --- the races: ours vs the official client vs the wire limit ------------------------------------
OFFICIAL_VENV = ROOT / ".nox" / "official-oxenai"
OFFICIAL_VERSION = "0.65.1"  # the current official client; it races the current server line


def official_python(session: nox.Session) -> str:
    """A virtualenv of its own for the official client (it pulls polars and pyarrow)."""
    python = OFFICIAL_VENV / "bin" / "python"
    if not python.exists():
        session.run("python", "-m", "venv", str(OFFICIAL_VENV))
    session.run(
        str(python), "-m", "pip", "install", "--quiet", f"oxenai=={OFFICIAL_VERSION}", external=True
    )
    return str(python)


def _race(session: nox.Session, script: str, defaults: list[str]) -> None:
    import os

    session.install(".[bench]")
    # The real server raced: $OXEN_ASYNC_REAL_VERSION (default the newest line, 0.65.2).
    version = os.environ.get("OXEN_ASYNC_REAL_VERSION", REAL_VERSIONS[0])
    args = list(session.posargs) or ["--target", "real", "--server-version", version, *defaults]
    session.run(
        "python", f"benchmarks/{script}", "--official-python", official_python(session), *args
    )


@nox.session
def race(session: nox.Session) -> None:
    """The upload race: oxen_async, the official client (oxenai 0.65.1) and the wire limit,
    against a real oxen-server 0.65.2, 5 rounds, plus peak RSS by folder size. Extra arguments
    replace the defaults and go to benchmarks/bench_upload.py (``-- --target bundled``)."""
    _race(session, "bench_upload.py", ["--rss"])


@nox.session(name="race-download")
def race_download(session: nox.Session) -> None:
    """The download race: ``download_folder`` vs the official ``RemoteRepo.download`` vs the
    download wire limit, against a real oxen-server 0.65.2 (``-- --target bundled`` for ours);
    extra arguments go to benchmarks/bench_download.py."""
    _race(session, "bench_download.py", ["--rss"])


@nox.session(name="race-scale")
def race_scale(session: nox.Session) -> None:
    """1,000,000 small files uploaded as one commit into the bundled server, then again
    unchanged (benchmarks/bench_scale.py; extra arguments go to it)."""
    session.install(".[bench]")
    session.run("python", "benchmarks/bench_scale.py", *session.posargs)


@nox.session(name="bench-smoke")
def bench_smoke(session: nox.Session) -> None:
    """Every benchmark with ``--smoke``: seconds each, tiny data, the bundled server, no official
    client, results in a temporary folder; fails when a benchmark fails (what CI runs), so a
    benchmark that imports internals cannot rot silently."""
    session.install(".[bench,dask]")
    scripts = benchmark_scripts()
    if not scripts:
        session.error("no benchmark scripts found in benchmarks/")
    for script in scripts:
        session.run("python", str(script.relative_to(ROOT)), "--smoke")
