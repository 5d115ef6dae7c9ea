"""The web layer of ``vesselseg serve``: the page, the JSON API, request checks, the server.

Routes::

    GET    /                                  the page (static/index.html; app.js, style.css)
    GET    /api/health                        version, shipped weights, limits, worker state
    POST   /api/segment                       multipart: file (required), weights, threshold
    GET    /api/results/<id>/<file>           photo.png, overlay.png, vessels.png, prob.png,
                                              widths.png, measurements.csv, measurements.json
    DELETE /api/results/<id>                  forget a result now (otherwise it expires)

Every API error is ``{"error": message}`` with a 4xx status (5xx only for the server's own
trouble: busy, time limit, a bug), never a traceback, in the response or the log.

Checks on every request (:class:`Guard`): the ``Host`` header must name this server when it is
bound to a loopback address (DNS rebinding); a state-changing request (POST, DELETE) whose
``Origin`` or ``Sec-Fetch-Site`` says it comes from another site is refused; request bodies are
limited to the upload limit; no CORS headers are ever sent; responses carry ``nosniff``, a
strict Content-Security-Policy (the page loads nothing from elsewhere) and ``no-store``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from importlib import resources
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from vesselseg._version import __version__
from vesselseg.errors import VesselsegError
from vesselseg.serve.service import LAYERS, Limits, Service, ServiceError

log = logging.getLogger("vesselseg.serve")

#: Bytes a multipart body may hold beyond the file itself (boundaries, headers, small fields).
FORM_OVERHEAD = 64 * 1024
STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"content-security-policy", CSP.encode()),
    (b"cache-control", b"no-store"),
]


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class _BodyTooLarge(Exception):
    pass


class Guard:
    """ASGI middleware: Host and Origin checks, a body-size limit, security headers."""

    def __init__(self, app, allowed_hosts: set[str] | None, max_body: int):
        self.app, self.allowed_hosts, self.max_body = app, allowed_hosts, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        host = headers.get("host", "").lower()
        refusal = None
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            refusal = error(400, f"Host {host[:80]!r} is not this server's address; open the page as "
                                 f"http://{sorted(self.allowed_hosts)[0]}/")
        elif scope["method"] not in ("GET", "HEAD"):
            origin = headers.get("origin")
            site = headers.get("sec-fetch-site")
            if (origin is not None and origin.lower() != f"{scope.get('scheme', 'http')}://{host}") or \
                    site not in (None, "same-origin", "none"):
                refusal = error(403, "cross-origin request refused: use the page served by this server")
            elif (length := headers.get("content-length", "")).isdigit() and int(length) > self.max_body:
                refusal = error(413, f"request is larger than the upload limit of "
                                     f"{(self.max_body - FORM_OVERHEAD) / 1e6:g} MB")
            else:
                receive = self._limited(receive)

        async def send_secure(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in present]
            await send(message)

        if refusal is not None:
            return await refusal(scope, receive, send_secure)
        await self.app(scope, receive, send_secure)

    def _limited(self, receive):
        total = 0

        async def limited():
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > self.max_body:
                    raise _BodyTooLarge()
            return message

        return limited


def _api(endpoint):
    """Every outcome of an API endpoint is JSON; errors are one message, logged as one line."""

    async def wrapped(request: Request):
        try:
            return await endpoint(request)
        except ServiceError as exc:
            return error(exc.status, str(exc))
        except _BodyTooLarge:
            limit = request.app.state.service.limits.max_upload_bytes
            return error(413, f"request is larger than the upload limit of {limit / 1e6:g} MB")
        except ClientDisconnect:
            return error(400, "the upload was interrupted")
        except HTTPException as exc:  # malformed multipart and the like
            return error(exc.status_code, str(exc.detail))
        except VesselsegError as exc:
            return error(422, str(exc))
        except Exception as exc:  # noqa: BLE001 -- a bug: one line in the log, no traceback anywhere
            log.error("%s %s: internal error (%s: %s)", request.method, request.url.path, type(exc).__name__, exc)
            return error(500, f"internal error ({type(exc).__name__}); please report it")

    return wrapped


def _text(value) -> str | None:
    if isinstance(value, UploadFile):
        raise ServiceError(400, "weights and threshold are text fields, not files")
    return value


async def segment(request: Request) -> Response:
    service: Service = request.app.state.service
    async with request.form(max_files=1, max_fields=8) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ServiceError(400, "send the photograph as the multipart/form-data file field 'file'")
        weights = service.check_weights(_text(form.get("weights")))
        threshold = service.check_threshold(_text(form.get("threshold")))
        try:
            body = await run_in_threadpool(service.process, upload.file, upload.filename, weights, threshold)
        except ServiceError as exc:
            log.warning("refused upload (%d): %s", exc.status, exc)
            raise
    log.info("%s: %dx%d, vessels %.1f%% of FOV, %.1f s (%s)", body["file_name"], body["width"], body["height"],
             100 * body["vessel_fraction"], body["seconds_total"], weights)
    return JSONResponse(body)


async def health(request: Request) -> Response:
    from vesselseg.io.images import max_pixels

    service: Service = request.app.state.service
    lim = service.limits
    return JSONResponse({
        "status": "ok", "version": __version__, "weights": service.weight_names,
        "default_weights": service.default_weights, "worker": service.worker.state(),
        "limits": {"max_upload_bytes": lim.max_upload_bytes, "max_pixels": max_pixels(),
                   "time_limit_s": lim.time_limit_s, "result_ttl_s": lim.result_ttl_s,
                   "max_results": lim.max_results},
        "layers": [lid for lid, *_ in LAYERS],
    })


async def result_file(request: Request) -> Response:
    service: Service = request.app.state.service
    rid, name = request.path_params["rid"], request.path_params["name"]
    path = service.store.file(rid, name)
    if path is None:
        return error(404, "no such result (results expire, and are deleted when the server stops)")
    item = service.store.get(rid)
    stem = (item.meta or {}).get("image", "image") if item else "image"
    filename = f"{stem}_{name}"
    kind = "inline" if name.endswith(".png") else "attachment"
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    disposition = f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    media = {"png": "image/png", "csv": "text/csv; charset=utf-8", "json": "application/json"}[name.rsplit(".", 1)[1]]
    return FileResponse(path, media_type=media, headers={"content-disposition": disposition})


async def delete_result(request: Request) -> Response:
    service: Service = request.app.state.service
    if not service.store.discard(request.path_params["rid"]):
        return error(404, "no such result")
    return Response(status_code=204)


def _static_text(name: str) -> bytes:
    return (resources.files("vesselseg.serve") / "static" / name).read_bytes()


async def index(request: Request) -> Response:
    return Response(_static_text("index.html"), media_type="text/html; charset=utf-8")


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return error(404, "not found")
    return Response(_static_text(name), media_type=STATIC[name])


def loopback_hosts(host: str, port: int) -> set[str] | None:
    """``Host`` header values accepted when bound to a loopback address; None (no check) otherwise."""
    names = {"localhost", "127.0.0.1", "[::1]"}
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return None
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    names.add(host.lower())
    return {f"{n}:{port}" for n in names} | ({*names} if port == 80 else set())


def create_app(service: Service, allowed_hosts: set[str] | None = None) -> Guard:
    """The ASGI app around ``service``; ``allowed_hosts`` None disables the Host check."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        service.start()
        sweeper = asyncio.create_task(_sweep(service))
        try:
            yield
        finally:
            sweeper.cancel()
            service.close()

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/health", _api(health)),
        Route("/api/segment", _api(segment), methods=["POST"]),
        Route("/api/results/{rid}/{name}", _api(result_file)),
        Route("/api/results/{rid}", _api(delete_result), methods=["DELETE"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.service = service
    guarded = Guard(app, allowed_hosts, service.limits.max_upload_bytes + FORM_OVERHEAD)
    guarded.state = app.state  # tests reach the service as app.state.service
    return guarded


async def _sweep(service: Service) -> None:
    period = max(1.0, min(60.0, service.limits.result_ttl_s / 2))
    while True:
        await asyncio.sleep(period)
        service.store.sweep()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, so that a port in use is one clear error before anything starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise VesselsegError(f"--host {host}: cannot resolve this address ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise VesselsegError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from None
    return sock


def serve(host: str = "127.0.0.1", port: int = 8000, weights: str = "drive", limits: Limits | None = None,
          threads: int | None = None, echo=print) -> None:
    """Run the server until Ctrl-C / SIGTERM; results and temporary files are removed on the way out."""
    import uvicorn

    service = Service(weights, limits, threads)  # validates the weights name
    try:
        sock = bind(host, port)
    except BaseException:
        service.store.close()
        raise
    app = create_app(service, loopback_hosts(host, port))
    if not log.handlers:  # one line per image processed or refused, on stderr
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    echo(f"vesselseg serve: http://{shown}:{port}/  (weights {weights}; Ctrl-C to stop)")
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5,
                            server_header=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        service.close()  # again, in case start-up failed before the lifespan ran
