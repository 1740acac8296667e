"""Wire facts that hold on every endpoint: headers, auth, User-Agent gate, routing, info routes."""

from __future__ import annotations

import uuid

from ._wire import Wire, family_a, family_c, family_d


async def test_version_headers_and_body(wire: Wire) -> None:
    reply = await wire.get("/api/version")
    assert reply.status == 200
    assert reply.json() == {
        "status": "success",
        "status_message": "resource_found",
        "oxen_version": "0.65.2",
    }
    assert reply.headers["oxen-version"] == "0.65.2"
    assert reply.headers["x-oxen-request-id"]


async def test_min_version(wire: Wire) -> None:
    body = (await wire.get("/api/min_version")).json()
    assert body["version"] == "0.36.0"
    assert body["oxen_version"] == "0.65.2"


async def test_health_reports_a_fraction(wire: Wire) -> None:
    body = (await wire.get("/api/health")).json()
    usage = body["disk_usage"]
    assert 0.0 <= usage["percent_used"] <= 1.0
    assert usage["total_gb"] >= usage["free_gb"]


async def test_request_id_echo_rules(wire: Wire) -> None:
    echoed = await wire.get("/api/version", headers={"x-oxen-request-id": "abc-DEF_123"})
    assert echoed.headers["x-oxen-request-id"] == "abc-DEF_123"
    invented = await wire.get("/api/version", headers={"x-oxen-request-id": "bad id!"})
    assert invented.headers["x-oxen-request-id"] not in ("bad id!", "")
    uuid.UUID(invented.headers["x-oxen-request-id"])


async def test_headers_on_errors_too(wire: Wire) -> None:
    reply = await wire.get("/api/nope")
    family_a(reply, 404, "resource_not_found")
    assert reply.headers["oxen-version"] == "0.65.2"
    assert reply.headers["x-oxen-request-id"]


async def test_missing_token_is_an_empty_401_with_challenge(anonymous: Wire) -> None:
    if anonymous.repo.server.token is None:
        return
    for path in ("/api/version", "/api/nope", "/branches"):
        reply = await anonymous.get(path)
        assert reply.status == 401
        assert reply.body == b""
        assert reply.headers["WWW-Authenticate"] == "Bearer"
        assert reply.headers["oxen-version"] == "0.65.2"


async def test_wrong_scheme_or_token(anonymous: Wire) -> None:
    token = anonymous.repo.server.token
    if token is None:
        return
    lower = await anonymous.get("/api/version", headers={"Authorization": f"bearer {token}"})
    assert lower.status == 401 and lower.body == b""
    wrong = await anonymous.get("/api/version", headers={"Authorization": "Bearer nope"})
    family_d(wrong, 401, "unauthorized")
    right = await anonymous.get("/api/version", headers={"Authorization": f"Bearer {token}"})
    assert right.status == 200


async def test_user_agent_gate(wire: Wire) -> None:
    for agent in ("oxen_async/0.1.0", "MyOxenClient", "Oxen/0.35.9 (linux)"):
        reply = await wire.get("/branches", headers={"User-Agent": agent})
        error = family_c(reply, 426, "update_required", "Update Required")
        assert reply.json()["status_message"] == "update_required"
        assert ">= 0.36.0" in error["detail"]
    for agent in ("Oxen/0.53.4 (linux; tokio)", "Python/3.11 aiohttp", "oxen Postman/1"):
        assert (await wire.get("/branches", headers={"User-Agent": agent})).status == 200
    # /api/version is not gated
    assert (await wire.get("/api/version", headers={"User-Agent": "oxen"})).status == 200


async def test_trailing_slash_is_not_normalised(wire: Wire) -> None:
    assert (await wire.get("")).status == 200
    family_a(await wire.get("/"), 404, "resource_not_found")
    family_c(await wire.get("/branches/"), 404, "resource_not_found", "Branch does not exist")
    family_a(await wire.get("/api/repos"), 404, "resource_not_found")


async def test_other_methods_on_the_repo_resource_are_405(wire: Wire) -> None:
    reply = await wire.call("PUT", "")
    assert reply.status == 405
    assert reply.body == b""
    assert set(reply.headers["Allow"].replace(" ", "").split(",")) == {"GET", "DELETE"}
    family_a(await wire.call("PATCH", "/branches"), 404, "resource_not_found")


async def test_namespaces_list_includes_ours(wire: Wire) -> None:
    body = (await wire.get("/api/namespaces")).json()
    assert {"namespace": wire.repo.namespace} in body["namespaces"]
    shown = (await wire.get(f"/api/namespaces/{wire.repo.namespace}")).json()
    assert shown["namespace"]["name"] == wire.repo.namespace
    family_a(await wire.get("/api/namespaces/no-such-namespace-here"), 404, "resource_not_found")
