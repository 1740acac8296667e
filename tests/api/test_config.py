"""Host, token and author discovery: arguments, then the environment, then oxen's config files."""

from __future__ import annotations

from pathlib import Path

import pytest

from oxen_async import ConfigError, OxenClient, UnauthorizedError
from oxen_async.config import resolve_author
from oxen_async.testing import RepoHandle, ServerHandle


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty OXEN_CONFIG_DIR, with no OXEN_* variables and a HOME without oxen config."""
    for var in ("OXEN_HOST", "OXEN_AUTH_TOKEN", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    directory = tmp_path / "oxen-config"
    directory.mkdir()
    monkeypatch.setenv("OXEN_CONFIG_DIR", str(directory))
    return directory


def _netloc(url: str) -> str:
    return url.split("://", 1)[1]


def _auth_config(directory: Path, default_host: str | None, tokens: dict[str, str]) -> None:
    lines = [f'default_host = "{default_host}"'] if default_host else []
    for host, token in tokens.items():
        lines += ["", "[[host_configs]]", f'host = "{host}"', f'auth_token = "{token}"']
    (directory / "auth_config.toml").write_text("\n".join(lines) + "\n")


async def test_host_and_token_from_the_environment(
    config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    oxen_server: ServerHandle,
    oxen_repo: RepoHandle,
) -> None:
    monkeypatch.setenv("OXEN_HOST", oxen_server.url)
    monkeypatch.setenv("OXEN_AUTH_TOKEN", oxen_server.token or "")
    async with OxenClient() as oxen:
        assert oxen.host == oxen_server.url
        info = await oxen.repos.get(oxen_repo.namespace, oxen_repo.name)
    assert info.name == oxen_repo.name


async def test_arguments_win_over_the_environment(
    config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    oxen_server: ServerHandle,
    oxen_repo: RepoHandle,
) -> None:
    if oxen_server.token is None:
        pytest.skip("the server runs without auth")
    monkeypatch.setenv("OXEN_HOST", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("OXEN_AUTH_TOKEN", "wrong-token")
    async with OxenClient(oxen_server.url, token=oxen_server.token) as oxen:
        await oxen.repos.get(oxen_repo.namespace, oxen_repo.name)
    async with OxenClient(oxen_server.url) as oxen:  # the env token is used, and wrong
        with pytest.raises(UnauthorizedError):
            await oxen.repos.get(oxen_repo.namespace, oxen_repo.name)


async def test_host_and_token_from_auth_config_toml(
    config_dir: Path, oxen_server: ServerHandle, oxen_repo: RepoHandle
) -> None:
    host = _netloc(oxen_server.url)  # oxen's files name hosts without a scheme
    _auth_config(
        config_dir,
        host,
        {"hub.oxen.ai": "not-for-this-host", host: oxen_server.token or "unused"},
    )
    async with OxenClient() as oxen:
        assert oxen.host == oxen_server.url
        info = await oxen.repos.get(oxen_repo.namespace, oxen_repo.name)
    assert info.name == oxen_repo.name


async def test_a_token_for_another_host_is_not_used(
    config_dir: Path, oxen_server: ServerHandle, oxen_repo: RepoHandle
) -> None:
    if oxen_server.token is None:
        pytest.skip("the server runs without auth")
    _auth_config(config_dir, None, {"hub.oxen.ai": oxen_server.token})
    async with OxenClient(oxen_server.url) as oxen:
        assert not oxen.session.has_token
        with pytest.raises(UnauthorizedError):
            await oxen.repos.get(oxen_repo.namespace, oxen_repo.name)


def test_default_host_without_any_configuration_is_the_hub(config_dir: Path) -> None:
    # As the official client: no argument, no $OXEN_HOST, no default_host -> the hub.
    assert OxenClient().host == "https://hub.oxen.ai"
    assert not OxenClient().session.has_token


def test_the_hub_default_takes_the_hubs_token_from_auth_config(config_dir: Path) -> None:
    _auth_config(config_dir, None, {"localhost:3000": "other", "hub.oxen.ai": "hub-token"})
    client = OxenClient()
    assert client.host == "https://hub.oxen.ai"
    assert client.session.has_token
    assert "hub-token" not in repr(client)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("localhost:3000", "http://localhost:3000"),
        ("hub.oxen.ai", "https://hub.oxen.ai"),
        ("https://example.com:8443/", "https://example.com:8443"),
        ("  http://127.0.0.1:3001  ", "http://127.0.0.1:3001"),
    ],
)
def test_host_spellings(config_dir: Path, given: str, expected: str) -> None:
    assert OxenClient(given).host == expected


@pytest.mark.parametrize(
    "bad", ["ftp://example.com", "http://user:pw@example.com", "http://h/?q=1", "   "]
)
def test_hosts_that_are_refused(config_dir: Path, bad: str) -> None:
    with pytest.raises(ConfigError):
        OxenClient(bad)


def test_a_broken_auth_config_is_a_config_error(config_dir: Path) -> None:
    (config_dir / "auth_config.toml").write_text("default_host = [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        OxenClient()
    assert "auth_config.toml" in str(caught.value)


def test_author_from_user_config_toml(config_dir: Path) -> None:
    assert resolve_author() is None
    (config_dir / "user_config.toml").write_text('name = "Ada"\nemail = "ada@example.com"\n')
    author = resolve_author()
    assert author is not None and (author.name, author.email) == ("Ada", "ada@example.com")
    override = resolve_author("Grace", None)
    assert override is not None and (override.name, override.email) == ("Grace", "ada@example.com")


def test_xdg_config_home_is_the_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_dir: Path
) -> None:
    monkeypatch.delenv("OXEN_CONFIG_DIR")
    xdg = tmp_path / "xdg"
    (xdg / "oxen").mkdir(parents=True)
    (xdg / "oxen" / "user_config.toml").write_text('name = "X"\nemail = "x@example.com"\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    author = resolve_author()
    assert author is not None and author.name == "X"
