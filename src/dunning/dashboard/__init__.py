"""The web dashboard: static HTML, JavaScript modules and CSS under ``/dashboard``, calling the
``/v1`` API from the browser with the API key it was signed in with (no server-side session)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).parent / "static"
MOUNT_PATH = "/dashboard"

# Everything the dashboard needs comes from this origin: no inline script or style, no CDN.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
)
_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Adds the dashboard's CSP and companion headers to every answer of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def mount(app: FastAPI) -> None:
    """Serve the dashboard at ``/dashboard/`` (a mount: it never appears in the OpenAPI)."""
    app.mount(
        MOUNT_PATH,
        SecurityHeaders(StaticFiles(directory=STATIC_DIR, html=True)),
        name="dashboard",
    )
