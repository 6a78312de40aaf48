"""The baseline: a bare FastAPI endpoint that reads the body and answers 200, nothing else."""

from fastapi import FastAPI
from starlette.requests import Request

app = FastAPI()


@app.post("/v1/webhooks/stripe/{tenant_id}")
async def receive(tenant_id: str, request: Request) -> dict[str, str]:
    await request.body()
    return {"status": "accepted", "tenant_id": tenant_id}
