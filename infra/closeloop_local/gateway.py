"""The local gateway: serves the template's HTTP API routes as API Gateway would, and /_local/ controls.

Each request is served on its own thread: it becomes a payload format 2.0 event for the route's
function, whose answer becomes the HTTP response. Bad requests get API Gateway's answers, plus a
405 with an Allow header for a known path asked with another method; nothing a client or a
function does stops the gateway.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from closeloop_local import apigw
from closeloop_local.auth import JwtIssuer, Unauthorized
from closeloop_local.logs import LogSink
from closeloop_local.routes import RouteTable
from closeloop_local.web import HttpRequest, HttpResponse, LocalHandler, json_response
from closeloop_local.workers import InvocationResult

MAX_PAYLOAD = 10 * 1024 * 1024
"""API Gateway's limit on a request's payload."""
_DISCARD_LIMIT = 64 * 1024 * 1024
"""Past this, an oversized body is not read to its end: the connection is closed on it."""
LOCAL_PREFIX = "/_local/"

Invoke = Callable[[str, dict[str, Any]], InvocationResult]


class Gateway:
    """Routes, the JWT check, and the HTTP server that serves them."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        invoke: Invoke,
        issuer: JwtIssuer,
        logs: LogSink,
        account_id: str,
    ) -> None:
        self.api_routes: RouteTable[apigw.ApiRoute] = RouteTable()
        self.local_routes: RouteTable[LocalHandler] = RouteTable()
        self._invoke = invoke
        self._issuer = issuer
        self._logs = logs
        self._account_id = account_id
        self._host = host
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def log(self, line: str) -> None:
        self._logs.write("gateway", line)

    def add_route(self, route: apigw.ApiRoute) -> None:
        self.api_routes.add(route.method, route.path, route)

    def add_local_route(self, method: str, path: str, handler: LocalHandler) -> None:
        """Serve one of the runtime's own routes (path under /_local/, with {params} if need be)."""
        if not path.startswith(LOCAL_PREFIX):
            raise ValueError(f"local routes live under {LOCAL_PREFIX}: {path}")
        self.local_routes.add(method, path, handler)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="gateway", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.close_connections()
        self._server.server_close()

    # ------------------------------------------------------------------ serving
    def handle(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        local = request.raw_path.startswith(LOCAL_PREFIX)
        response = self._serve_local(request) if local else self._serve_api(request)
        elapsed = (time.monotonic() - started) * 1000
        self.log(f"{request.method} {request.raw_path} {response.status} {elapsed:.0f}ms")
        return response

    def _serve_local(self, request: HttpRequest) -> HttpResponse:
        method = "GET" if request.method == "HEAD" else request.method
        match = self.local_routes.match(method, request.raw_path)
        if match is None:
            return self._unrouted(self.local_routes, request)
        try:
            return match.route.target(request, match.path_parameters)
        except Exception as error:
            self.log(f"{match.route.key} failed: {type(error).__name__}: {error}")
            return json_response(500, {"message": "Internal Server Error"})

    @staticmethod
    def _unrouted(routes: RouteTable[Any], request: HttpRequest) -> HttpResponse:
        allowed = routes.methods_for(request.raw_path)
        if not allowed:
            return json_response(404, {"message": "Not Found"})
        if "GET" in allowed:
            allowed.append("HEAD")
        return json_response(405, {"message": "Method Not Allowed"}, [("allow", ", ".join(sorted(allowed)))])

    def _serve_api(self, request: HttpRequest) -> HttpResponse:
        request_id = apigw.request_id()
        trace = [("apigw-requestid", request_id)]
        match = self.api_routes.match(request.method, request.raw_path)
        if match is None and request.method == "HEAD":
            match = self.api_routes.match("GET", request.raw_path)
        if match is None:
            return self._unrouted(self.api_routes, request)
        route = match.route.target
        claims: dict[str, Any] | None = None
        if route.authorizer is not None:
            try:
                claims = self._issuer.verify(route.authorizer.token_in(request), route.authorizer)
            except Unauthorized:
                return json_response(401, {"message": "Unauthorized"}, trace)
            granted = set(str(claims.get("scope", "")).split())
            if route.scopes and not granted.intersection(route.scopes):
                return json_response(403, {"message": "Forbidden"}, trace)
        event = apigw.build_event(
            request,
            route_key=match.route.key,
            path_parameters=match.path_parameters,
            request_id=request_id,
            api_id=route.api_id,
            account_id=self._account_id,
            domain_name=request.header("host") or self.url.removeprefix("http://"),
            port=self.port,
            claims=claims,
        )
        if request.method == "HEAD" and match.route.method == "GET":
            event["requestContext"]["http"]["method"] = "GET"
        result = self._invoke(route.function_id, event)
        if not result.ok:
            error = result.error or {}
            self.log(
                f"{request_id} {match.route.key} -> {route.function_id} failed: "
                f"{error.get('errorType')}: {error.get('errorMessage')}"
            )
            return self._internal_error(request_id)
        try:
            response = apigw.http_response(result.payload)
        except apigw.MalformedResponse as malformed:
            self.log(f"{request_id} {route.function_id} answered badly: {malformed}")
            return self._internal_error(request_id)
        response.headers.extend(trace)
        return response

    @staticmethod
    def _internal_error(request_id: str) -> HttpResponse:
        return json_response(
            500,
            {"message": "Internal Server Error", "requestId": request_id},
            [("apigw-requestid", request_id)],
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        self.gateway = gateway
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """End kept-alive connections, so that no request is served once the gateway stopped."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                continue


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once, not after a delayed ACK
    timeout = 60

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        super().finish()

    def version_string(self) -> str:
        return "closeloop-local"

    def log_message(self, fmt: str, *args: Any) -> None:
        """The gateway logs each request itself."""

    def _serve(self) -> None:
        try:
            request = self._read_request()
            response = request if isinstance(request, HttpResponse) else self.server.gateway.handle(request)
        except Exception as error:
            self.server.gateway.log(f"{self.command} {self.path} failed: {error!r}")
            response = json_response(500, {"message": "Internal Server Error"})
            self.close_connection = True
        self._write(response)

    # the names http.server dispatches each method to
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve  # noqa: N815

    def _read_request(self) -> HttpRequest | HttpResponse:
        path, _, query = self.path.partition("?")
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            return json_response(400, {"message": "Bad Request"})
        if body is None:
            self.close_connection = True
            return json_response(413, {"message": "Request Entity Too Large"})
        return HttpRequest(
            method=self.command,
            raw_path=path,
            raw_query=query,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )

    def _read_body(self) -> bytes | None:
        """The request's body, or None if it passes the payload limit; ValueError if malformed."""
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("content-length") or 0)
        if length < 0:
            raise ValueError("negative content-length")
        if length > MAX_PAYLOAD:
            self._discard(length)
            return None
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes | None:
        """A chunked body, or None once it passes the payload limit."""
        body = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    continue
                return bytes(body)
            if len(body) + size > MAX_PAYLOAD:
                return None
            body += self.rfile.read(size)
            self.rfile.readline()

    def _discard(self, length: int) -> None:
        remaining = min(length, _DISCARD_LIMIT)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                return
            remaining -= len(chunk)

    def _write(self, response: HttpResponse) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                    self.send_header(name, value.encode("latin-1", errors="replace").decode("latin-1"))
            self.send_header("content-length", str(len(response.body)))
            if self.close_connection:
                self.send_header("connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
