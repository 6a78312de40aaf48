"""Schemathesis over every operation of the system's OpenAPI document: whatever a client sends,
no 5xx, and every answer is one the document promises (status code, content type, schema).

The whole HTTP API (``build_system_app``) runs in-process over ASGI on a loop thread of its own,
against the real PostgreSQL, with a real tenant's admin key. Path ids are sometimes those of
seeded objects, so the fuzzing reaches past the 404s into the handlers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import load_all_checks
from sqlalchemy import text
from tests.conftest import Infra
from tests.integration.retry.test_cases import deliver, payment_event
from tests.support.loop_thread import LoopThread

from dunning.cli.settings import SystemSettings
from dunning.cli.system import build_system_app
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.health import Health
from dunning.common.tenancy.service import CreatedTenant, create_api_key, create_tenant
from dunning.notify.domain.channels import Channel, TemplateName
from dunning.notify.unsubscribe import UnsubscribeTokens

pytestmark = pytest.mark.integration

ADMIN_TOKEN = "operator-token-for-the-hostile-openapi-test"
DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
OPERATIONS = [
    (method.upper(), path)
    for path, methods in json.loads(DOCUMENT.read_text())["paths"].items()
    for method in methods
]
# Small and fixed: the whole document runs in well under a minute inside `make test`.
EXAMPLES_PER_MODE = 12
FUZZ = settings(
    max_examples=EXAMPLES_PER_MODE,
    derandomize=True,
    database=None,
    deadline=None,
    # No shrinking: a failure is reported as found, and a failing operation cannot take minutes.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)

load_all_checks()
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]


@dataclass
class System:
    loop: LoopThread
    db: Database
    client: httpx.AsyncClient
    tenant: CreatedTenant
    schema: Any
    real: dict[str, list[str]]

    def send(self, kwargs: dict[str, Any]) -> httpx.Response:
        return self.loop.run(self.client.request(**kwargs))


async def _seed(db: Database, box: SecretBox) -> tuple[CreatedTenant, str]:
    async with db.engine.begin() as conn:
        tables = await conn.scalars(
            text(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
                "WHERE schemaname IN ('tenancy', 'ingest', 'retry', 'notify') "
                "AND tablename <> 'alembic_version'"
            )
        )
        await conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
    async with db.unit_of_work() as uow:
        tenant = await create_tenant(uow.session, box, "Hostile")
        # A second key for DELETE /v1/api-keys/{id} to revoke: the admin key must outlive the run.
        spare = await create_api_key(uow.session, tenant.tenant_id, scopes=("read",))
        await uow.commit()
    await deliver(
        db,
        *(
            payment_event(
                "payment.failed",
                invoice_id=f"in_hostile_{i}",
                minutes=i,
                tenant_id=tenant.tenant_id,
                customer_id=f"cus_{i}",
            )
            for i in range(3)
        ),
    )
    return tenant, spare


def _harvest(system: System, path: str, *, keep: Callable[[dict[str, Any]], bool] = bool) -> list[str]:
    response = system.send(
        {"method": "GET", "url": path, "headers": {"Authorization": f"Bearer {system.tenant.api_key}"}}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    items = body["data"] if isinstance(body, dict) else body
    return [str(item["id"]) for item in items if keep(item)]


@pytest.fixture(scope="module")
def system(infra: Infra, db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    del db  # requested for its side effect: the schemas are migrated
    box = SecretBox(infra.secret_key)
    settings_ = SystemSettings(
        data_dir=tmp_path_factory.mktemp("hostile-openapi"),
        database_url=infra.database_url,
        kafka_bootstrap=infra.bootstrap,
        secret_key=SecretStr(infra.secret_key),
        admin_token=SecretStr(ADMIN_TOKEN),
        sms_auth_token=SecretStr("twilio-auth-token-for-the-hostile-openapi-test"),
        # The rate limit is tested elsewhere; here it would only turn the fuzzing into 429s.
        api_rate_per_second=1e6,
        api_rate_burst=1_000_000,
    )
    with LoopThread() as loop:
        database = loop.run(_open(infra.database_url))
        tenant, _spare = loop.run(_seed(database, box))
        app = build_system_app(settings_, database, box, Health())
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://dunning.test"
        )
        system = System(loop, database, client, tenant, schemathesis.openapi.from_dict(app.openapi()), {})
        system.real = {
            "tenant_id": [tenant.tenant_id],
            "provider": ["stripe"],
            "case_id": _harvest(system, "/v1/cases"),
            "key_id": _harvest(system, "/v1/api-keys", keep=lambda key: key["scopes"] == ["read"]),
            "secret_id": _harvest(system, "/v1/webhook-secrets"),
            "customer_id": ["cus_0", "cus_1"],
            "template": [name.value for name in TemplateName],
            "channel": [channel.value for channel in Channel],
            "locale": ["en", "de"],
            "token": [UnsubscribeTokens(infra.secret_key).make("dlv_missing")],
        }
        try:
            yield system
        finally:
            loop.run(client.aclose())
            loop.run(database.dispose())


async def _open(url: str) -> Database:
    return Database(url, pool_size=4)


def _credentials(system: System, operation: Any) -> dict[str, str]:
    schemes = {name for requirement in operation.definition.raw.get("security", []) for name in requirement}
    if "TenantApiKey" in schemes:
        return {"Authorization": f"Bearer {system.tenant.api_key}"}
    if "OperatorToken" in schemes:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return {}


def _as_httpx(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Schemathesis serializes for `requests`; httpx wants raw bodies as ``content``."""
    sent = {key: value for key, value in kwargs.items() if key in ("method", "url", "headers", "params")}
    if kwargs.get("cookies"):
        sent["cookies"] = kwargs["cookies"]
    if "json" in kwargs:
        sent["json"] = kwargs["json"]
    data = kwargs.get("data")
    if isinstance(data, str | bytes):
        sent["content"] = data
    elif data is not None:
        sent["data"] = data
    return sent


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_answers_as_documented_whatever_it_is_sent(
    system: System, method: str, path: str
) -> None:
    operation = system.schema[path][method]
    credentials = _credentials(system, operation)
    real = {name: system.real[name] for name in re.findall(r"{(\w+)}", path) if system.real.get(name)}
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @FUZZ
        @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
        def exercise(case: Any, data: st.DataObject) -> None:
            for name, values in real.items():
                if case.path_parameters is not None and data.draw(st.booleans(), label=f"real {name}"):
                    case.path_parameters[name] = data.draw(st.sampled_from(values), label=name)
            kwargs = case.as_transport_kwargs(base_url="http://dunning.test", headers=credentials)
            response = system.send(_as_httpx(kwargs))
            case.validate_response(response, checks=CHECKS, headers=kwargs["headers"])

        try:
            exercise()
        except Unsatisfiable:
            # An operation without parameters or body has nothing to make invalid.
            if mode is GenerationMode.POSITIVE:
                raise
