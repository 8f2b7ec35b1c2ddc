"""The HTTP service: a JSON API (OpenAPI at ``/openapi.json``) and the pages a dealer's or
call centre's staff use (search, customer, why). Every request needs a token; a page
visitor gives it once on ``/login`` and keeps it in an HttpOnly cookie."""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from c360.serve import queries as q
from c360.serve.access import AccessLog, Token, Tokens
from c360.serve.snapshot import Current

log = logging.getLogger(__name__)

COOKIE = "c360_token"
NOBODY = Token("-", "none")  # the access log's token of a request without a valid one
OPEN_PATHS = ("/login", "/static/", "/healthz")
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


@dataclass
class Service:
    current: Current
    tokens: Tokens
    access_log: AccessLog
    search_limit: int = 50


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _token_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


def create_app(service: Service) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.current.start()
        service.access_log.start()
        yield
        service.current.stop()
        service.access_log.close()

    app = FastAPI(
        title="c360 lookup",
        summary="Read-only lookups over the Customer 360's gold and identity tables.",
        version="1",
        docs_url=None,  # Swagger UI loads from a CDN; the schema is at /openapi.json
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Callable) -> Any:
        path = request.url.path
        if path.startswith(OPEN_PATHS):
            return await call_next(request)
        secret = _token_of(request)
        token = service.tokens.check(secret)
        if token is None:
            status = 401 if not secret else 403
            reason = "missing bearer token" if not secret else "unknown token"
            service.access_log.record(NOBODY, "unauthenticated", request.method, status, [])
            if path.startswith("/api/") or path == "/openapi.json":
                return _error(status, reason)
            return TEMPLATES.TemplateResponse(
                request, "login.html", {"reason": reason}, status_code=status
            )
        request.state.token = token
        try:
            response = await call_next(request)
        except Exception as exc:  # one line, no stack trace to the caller or the log
            log.error("step=serve.request path=%s error=%s", _route(request), type(exc).__name__)
            response = _error(500, "internal error")
        if not getattr(request.state, "logged", False):  # refused, not found, failed
            service.access_log.record(
                token, _route(request), request.method, response.status_code, []
            )
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
        return _error(400, f"{where}: {first.get('msg', 'invalid')}".strip(": "))

    @app.exception_handler(q.BadRequest)
    async def bad_term(_: Request, exc: q.BadRequest) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(q.NotFound)
    async def not_found(_: Request, exc: q.NotFound) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    def answer(request: Request, payload: Any, status: int = 200) -> Any:
        token: Token = request.state.token
        service.access_log.record(
            token, _route(request), request.method, status, q.customer_ids(payload)
        )
        request.state.logged = True
        return payload

    def full_scope(request: Request) -> None:
        if request.state.token.scope != "full":
            raise StarletteHTTPException(
                403, "this token's scope is pseudo: it reads pseudo.customer_360 only"
            )

    snap = lambda: service.current.snapshot  # noqa: E731

    # ------------------------------------------------------------------ the JSON API

    @app.get("/api/search", tags=["lookup"])
    def api_search(
        request: Request,
        email: str | None = None,
        phone: str | None = None,
        vin: str | None = None,
        name: str | None = None,
        postal_code: str | None = None,
    ) -> dict[str, Any]:
        """Customers by email, phone (any format), VIN, or name with postal code; each with
        its match reason."""
        full_scope(request)
        term = q.Search.parse(email, phone, vin, name, postal_code)
        results = q.search(snap(), term, service.search_limit)
        return answer(request, {"kind": term.kind, "results": results})

    @app.get("/api/customers/{customer_id}", tags=["lookup"])
    def api_customer(request: Request, customer_id: str) -> dict[str, Any]:
        """The customer's 360 (a pseudo token: the pseudonymized row, by customer_key)."""
        if request.state.token.scope == "pseudo":
            return answer(request, q.pseudo_360(snap(), customer_id))
        return answer(request, q.customer_360(snap(), customer_id))

    @app.get("/api/customers/{customer_id}/why", tags=["lookup"])
    def api_why(request: Request, customer_id: str) -> dict[str, Any]:
        """Why these records are one customer: members, links, guards, events, golden fields."""
        full_scope(request)
        return answer(request, q.why(snap(), customer_id))

    @app.get("/api/vehicles/{vin}", tags=["lookup"])
    def api_vehicle(request: Request, vin: str) -> dict[str, Any]:
        """A vehicle and its owner history (``silver.vehicles`` and ``silver.ownerships``)."""
        full_scope(request)
        return answer(request, q.vehicle(snap(), vin))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        s = snap()
        return {"status": "ok", "tables": sum(v is not None for v in s.versions.values())}

    # ------------------------------------------------------------------ pages

    @app.get("/login", include_in_schema=False)
    def login_page(request: Request) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, "login.html", {"reason": None})

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Any:
        # a urlencoded form of one field: parsed here (Starlette's form parser needs an
        # extra package, python-multipart)
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        secret = (form.get("token") or [""])[0]
        if service.tokens.check(secret) is None:
            return TEMPLATES.TemplateResponse(
                request, "login.html", {"reason": "unknown token"}, status_code=403
            )
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(COOKIE, secret, httponly=True, samesite="strict")
        return resp

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(_plotly_js(), media_type="application/javascript")

    @app.get("/", include_in_schema=False)
    def search_page(
        request: Request,
        kind: str = "phone",
        postal_code: str | None = None,
    ) -> HTMLResponse:
        """``?kind=phone&q=...``: the term's parameter is ``q`` (the module's name here)."""
        full_scope(request)
        term = request.query_params.get("q")
        ctx: dict[str, Any] = {"kind": kind, "q": term or "", "postal_code": postal_code or ""}
        if term:
            if kind not in q.SEARCH_KINDS:
                raise q.BadRequest(f"kind must be one of {', '.join(q.SEARCH_KINDS)}")
            args = {kind: term, "postal_code": postal_code}
            try:
                parsed = q.Search.parse(**args)
                ctx["results"] = q.search(snap(), parsed, service.search_limit)
            except q.BadRequest as exc:
                ctx["error"] = str(exc)
                ctx["results"] = []
            answer(request, ctx["results"])
        return TEMPLATES.TemplateResponse(request, "search.html", ctx)

    @app.get("/customers/{customer_id}", include_in_schema=False)
    def customer_page(request: Request, customer_id: str) -> HTMLResponse:
        full_scope(request)
        c = answer(request, q.customer_360(snap(), customer_id))
        return TEMPLATES.TemplateResponse(request, "customer.html", {"c": c})

    @app.get("/customers/{customer_id}/why", include_in_schema=False)
    def why_page(request: Request, customer_id: str) -> HTMLResponse:
        full_scope(request)
        w = answer(request, q.why(snap(), customer_id))
        return TEMPLATES.TemplateResponse(
            request, "why.html", {"w": w, "figure": json.dumps(link_graph(w))}
        )

    return app


def _route(request: Request) -> str:
    """The route's template (``/api/customers/{customer_id}``), never the path or query."""
    route = request.scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def link_graph(w: dict[str, Any]) -> dict[str, Any]:
    """A Plotly figure: the records on a circle, accepted links solid, vetoed dashed red."""
    import math

    import plotly.graph_objects as go

    keys = [r["record_key"] for r in w["records"]]
    n = max(len(keys), 1)
    pos = {
        k: (math.cos(2 * math.pi * i / n), math.sin(2 * math.pi * i / n))
        for i, k in enumerate(keys)
    }
    fig = go.Figure()
    for lk in w["links"]:
        a, b = pos.get(lk["record_key_l"]), pos.get(lk["record_key_r"])
        if a is None or b is None:
            continue
        vetoed = lk["status"] == "vetoed"
        why = ", ".join(lk.get("rules") or []) or (
            f"weight {lk['match_weight']:.1f}" if lk.get("match_weight") is not None else ""
        )
        fig.add_trace(
            go.Scatter(
                x=[a[0], b[0]],
                y=[a[1], b[1]],
                mode="lines",
                line={
                    "color": "#c0392b" if vetoed else "#2c7fb8",
                    "dash": "dash" if vetoed else "solid",
                },
                hoverinfo="text",
                text=f"{lk['method']} {lk['status']}: {why}",
                showlegend=False,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[pos[k][0] for k in keys],
            y=[pos[k][1] for k in keys],
            mode="markers+text",
            text=keys,
            textposition="top center",
            marker={"size": 16, "color": "#1b9e77"},
            hoverinfo="text",
            showlegend=False,
        )
    )
    fig.update_layout(
        height=420,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x"},
    )
    return json.loads(fig.to_json())
