"""Live-gateway fixtures.

The gateway is the binary at `LICTOR_BIN` (default
`<repo>/target/debug/lictor`); nothing is built here. It runs on SQLite in
a temporary directory with a chosen superadmin key, on a free port, and is
killed at the end of the session.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lictor import Gateway
from lictor.openapi import api, models

from .upstream import McpUpstream
from .vectors import REPO_ROOT

READY_PREFIX = "lictor listening on "


@dataclass
class LiveGateway:
    url: str
    admin_key: str
    process: subprocess.Popen[str]
    output: list[str]


@pytest.fixture(scope="session")
def live_gateway() -> Iterator[LiveGateway]:
    binary = Path(os.environ.get("LICTOR_BIN") or REPO_ROOT / "target" / "debug" / "lictor")
    if not binary.is_file():
        pytest.fail(f"no gateway binary at `{binary}`: build it with `cargo build --bin lictor` or set LICTOR_BIN")
    admin_key = "lictor_admin_" + secrets.token_hex(24)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("LICTOR_")}
    env["LICTOR_ADMIN_KEY"] = admin_key
    with tempfile.TemporaryDirectory(prefix="lictor-sdk-python-") as data_dir:
        process = subprocess.Popen(
            [str(binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--log-level", "warn"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        output: list[str] = []
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            output.append(first)
            if not first.startswith(READY_PREFIX):
                process.kill()
                rest = process.stdout.read()
                pytest.fail(f"the gateway did not start: {first}{rest}")
            url = first[len(READY_PREFIX) :].strip()

            # Keep draining, so a chatty gateway never blocks on a full pipe.
            def drain() -> None:
                assert process.stdout is not None
                for line in process.stdout:
                    output.append(line)

            threading.Thread(target=drain, daemon=True).start()
            yield LiveGateway(url, admin_key, process, output)
        finally:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def upstream() -> Iterator[McpUpstream]:
    server = McpUpstream().start()
    yield server
    server.stop()


@dataclass
class Tenant:
    id: str
    admin_key: str
    agent_key: str
    agent_id: str
    webhook_secret: str


def _new_tenant(live_gateway: LiveGateway, upstream: McpUpstream, prefix: str) -> Tenant:
    tenant_id = f"{prefix}-{secrets.token_hex(3)}"
    with Gateway(live_gateway.url, api_key=live_gateway.admin_key) as root:
        created = api.tenants.tenant_create.sync(client=root.api, body=models.TenantCreate(id=tenant_id, name=prefix))
        assert isinstance(created, models.TenantCreated)

        def key(role: str) -> str:
            body = models.ApiKeyCreate.from_dict(
                {"tenant": tenant_id, "environment": "live", "role": role, "name": f"{role} key"}
            )
            answer = api.api_keys.api_key_create.sync(client=root.api, body=body)
            assert isinstance(answer, models.ApiKeyCreated)
            return answer.key

        admin_key, agent_key = key("admin"), key("agent")
    with Gateway(live_gateway.url, api_key=admin_key) as admin:
        agent = models.AgentCreate.from_dict({"id": "billing-bot", "name": "Billing bot", "owner": "finance"})
        api.agents.agent_create.sync(client=admin.api, body=agent)
        upstream_body = models.UpstreamCreate.from_dict(
            {
                "name": "bank",
                "url": upstream.url,
                "tools": {"transfer_funds": {"action_type": "transact", "financial_exposure_from": "/amount_usd"}},
            }
        )
        api.upstreams.upstream_create.sync(client=admin.api, body=upstream_body)
    return Tenant(tenant_id, admin_key, agent_key, "billing-bot", created.webhook_secret)


@pytest.fixture(scope="session")
def tenant(live_gateway: LiveGateway, upstream: McpUpstream) -> Tenant:
    """One tenant for the session: an admin key, an agent key, the agent
    `billing-bot` and the upstream `bank`."""
    return _new_tenant(live_gateway, upstream, "acme")


@pytest.fixture
def fresh_tenant(live_gateway: LiveGateway, upstream: McpUpstream) -> Tenant:
    """A tenant of its own, for tests that count things."""
    return _new_tenant(live_gateway, upstream, "solo")


@pytest.fixture
def admin(live_gateway: LiveGateway, tenant: Tenant) -> Iterator[Gateway]:
    with Gateway(live_gateway.url, api_key=tenant.admin_key) as gateway:
        yield gateway


def mint_token(gateway_url: str, admin_key: str, subject: str = "billing-bot", **caveats: object) -> str:
    with Gateway(gateway_url, api_key=admin_key) as admin:
        body = models.TokenMint.from_dict({"subject": subject, "ttl_seconds": 3600, **caveats})
        minted = api.tokens.token_mint.sync(client=admin.api, body=body)
        assert isinstance(minted, models.MintedToken)
        return minted.token
