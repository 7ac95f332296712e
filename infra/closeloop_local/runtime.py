"""The local runtime: the whole system of template.yaml on one machine, with no AWS account.

moto's server stands in for AWS; the resources are created from the template; each function runs
in its own worker processes; the gateway serves the HTTP API; the domain clock fires schedules;
pollers feed queues and streams to their functions; EventBridge rules route events to
functions; an SMTP listener hands mail to the SES receipt rules.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qs

import boto3
from botocore.config import Config

from closeloop_local import apigw, auth, outbox
from closeloop_local.clock import DomainClock
from closeloop_local.event_sources import EventSources
from closeloop_local.gateway import Gateway
from closeloop_local.logs import LogSink
from closeloop_local.receipt_rules import MessageRefused, addresses, envelope_of
from closeloop_local.sign_in import LocalSignIn
from closeloop_local.smtp import SmtpServer
from closeloop_local.template import FunctionSpec, Pseudo, ResolvedTemplate, Resolver, TemplateError, provision
from closeloop_local.web import HttpRequest, HttpResponse, json_response
from closeloop_local.workers import (
    DEFAULT_MAX_WORKERS,
    FAKE_SECRET_KEY,
    InvocationResult,
    WorkerPool,
    access_key_for,
)

__all__ = ["FunctionSpec", "InvocationResult", "Runtime", "TemplateError", "describe", "serve"]

HOST = "127.0.0.1"
SMTP_PORT = 2525
RUNTIME_KEY = access_key_for("LocalRuntime")
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
"""Variables of the machine a worker keeps (Lambda sets PATH, LANG and the like too)."""


class Runtime:
    """One local stack: start() it, use it, stop() it (or use it as a context manager).

    Ports 0 take free ones (`smtp_port` too, 0 by default: `make run` takes 2525); `state_dir` (logs)
    is relative to the template's folder; `parameters` override the template's defaults and
    infra/local/parameters.json.
    """

    template: ResolvedTemplate
    clock: DomainClock
    event_sources: EventSources
    gateway: Gateway
    workers: WorkerPool
    issuer: auth.JwtIssuer
    login_authorizer: auth.JwtAuthorizer

    def __init__(
        self,
        template_path: str | Path,
        *,
        port: int = 3000,
        moto_port: int | None = None,
        parameters: Mapping[str, Any] | None = None,
        seed: bool = True,
        state_dir: str | Path = ".local",
        region: str = "eu-west-1",
        echo_logs: bool = True,
        max_workers_per_function: int = DEFAULT_MAX_WORKERS,
        smtp_port: int = 0,
    ) -> None:
        self.template_path = Path(template_path).resolve()
        self.port = port
        self.moto_port = moto_port or 0
        self.smtp_port = smtp_port
        self.moto_port_in_use = 0
        self.seed = seed
        self.state_dir = self.template_path.parent / state_dir
        self.region = region
        self.max_workers_per_function = max_workers_per_function
        self.logs = LogSink(self.state_dir / "logs", echo=echo_logs)
        self.resolver = Resolver(self.template_path, parameters=parameters, pseudo=Pseudo(region=region))
        self._moto_endpoint = ""
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._saved_environment: dict[str, str | None] = {}
        self._started: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ the interface
    @property
    def url(self) -> str:
        """The gateway's base URL."""
        return self.gateway.url

    @property
    def moto_endpoint(self) -> str:
        return self._moto_endpoint

    def client(self, service: str) -> Any:
        """A boto3 client of the moto server (the runtime's own fake credentials)."""
        with self._clients_lock:
            if service not in self._clients:
                if not self._moto_endpoint:
                    raise RuntimeError("the runtime is not started")
                self._clients[service] = boto3.session.Session().client(
                    service,  # type: ignore[call-overload]
                    endpoint_url=self._moto_endpoint,
                    region_name=self.region,
                    aws_access_key_id=RUNTIME_KEY,
                    aws_secret_access_key=FAKE_SECRET_KEY,
                    config=Config(retries={"mode": "standard", "max_attempts": 3}),
                )
            return self._clients[service]

    def invoke(
        self, function_id: str, event: dict[str, Any], *, clock_state: dict[str, Any] | None = None
    ) -> InvocationResult:
        """Invoke a function synchronously (thread-safe), at the domain clock's time unless told otherwise."""
        state = clock_state if clock_state is not None else self.clock.state()
        return self.workers.invoke(function_id, event, clock_state=state)

    def physical_name(self, logical_id: str) -> str:
        return self.resolver.physical_name(logical_id)

    def arn(self, logical_id: str) -> str:
        return self.resolver.arn(logical_id)

    # ------------------------------------------------------------------ life cycle
    def __enter__(self) -> Runtime:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Runtime:
        """Start everything; on any failure, stop what had started and raise."""
        try:
            self._start_moto()
            self.issuer = auth.JwtIssuer()
            self.gateway = Gateway(
                host=HOST,
                port=self.port,
                invoke=self.invoke,
                issuer=self.issuer,
                logs=self.logs,
                account_id=self.resolver.pseudo.account_id,
            )
            self._started.append(self.gateway.stop)
            self.resolver.api_endpoint = self.gateway.url
            self._create_resources()
            self.template = self.resolver.resolve()
            self._use_local_environment()
            self.workers = WorkerPool(
                self.template.functions,
                environment=self._worker_environment(),
                logs=self.logs,
                max_per_function=self.max_workers_per_function,
            )
            self._started.append(self.workers.stop)
            self._add_routes()
            self.clock = DomainClock(self)
            self.event_sources = EventSources(self)
            self.gateway.start()
            self.clock.start()
            self._started.append(self.clock.stop)
            self.event_sources.start()
            self._started.append(self.event_sources.stop)
            self._start_smtp()
            self._started.append(self.gateway.stop)  # stopped first too, so no request meets a stopping runtime
            if self.seed:
                from closeloop_local import demo

                demo.seed(self)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything that started, last started first: no worker process is left."""
        while self._started:
            stop = self._started.pop()
            try:
                stop()
            except Exception as error:
                self.logs.write("runtime", f"stopping {stop} failed: {error!r}")
        self._clients.clear()
        self._moto_endpoint = ""
        self.logs.close()

    def _start_moto(self) -> None:
        from closeloop_local.moto_server import moto_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call otherwise
        moto = moto_server(HOST, self.moto_port)
        moto.start()
        self._started.append(moto.stop)
        host, port = moto.get_host_and_port()
        self.moto_port_in_use = int(port)
        self._moto_endpoint = f"http://{host}:{port}"

    def _start_smtp(self) -> None:
        receiver = self.event_sources.receiver
        smtp = SmtpServer(HOST, self.smtp_port, accepts=receiver.covers, deliver=receiver.receive)
        smtp.start()
        self._started.append(smtp.stop)
        self.smtp_port = smtp.port

    def _create_resources(self) -> None:
        provision(self.resolver, self)

    def _use_local_environment(self) -> None:
        """Point this process at the local stack, so that the domain package works here (login, seed)."""
        variables = {
            **self.template.globals_environment,
            **self._aws_environment(),
            "AWS_ACCESS_KEY_ID": RUNTIME_KEY,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
        }
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", *variables):
            self._saved_environment.setdefault(name, os.environ.get(name))
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.update(variables)
        _forget_domain_caches()
        self._started.append(self._restore_environment)

    def _restore_environment(self) -> None:
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()
        _forget_domain_caches()

    def _aws_environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self._moto_endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "CLOSELOOP_LOCAL": "1",
            "PUBLIC_BASE_URL": self.gateway.url,
            "STAFF_SIGN_IN_URL": f"{self.gateway.url}/_local",
            "STAFF_UPLOADS_ORIGIN": self._moto_endpoint,  # presigned URLs point at moto's server
            "POWERTOOLS_TRACE_DISABLED": "true",
        }

    def _worker_environment(self) -> dict[str, str]:
        machine = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
        return {**machine, **self._aws_environment(), "TZ": "UTC"}

    def _add_routes(self) -> None:
        routes = apigw.api_routes(self.template)
        for route in routes:
            self.gateway.add_route(route)
        self.gateway.add_local_route("GET", "/_local/clock", self._get_clock)
        self.gateway.add_local_route("POST", "/_local/clock", self._post_clock)
        self.gateway.add_local_route("GET", "/_local/jwks.json", self._get_jwks)
        self.gateway.add_local_route("POST", "/_local/inbound", self._post_inbound)
        outbox.register(self.gateway)
        authorizers = [route.authorizer for route in routes if route.authorizer is not None]
        if authorizers:
            self.login_authorizer = authorizers[0]
            self.gateway.add_local_route("POST", "/_local/login", self._post_login)
            LocalSignIn(self.issuer, self.login_authorizer, lambda: self.gateway.url).register(self.gateway)

    # ------------------------------------------------------------------ /_local/ routes
    def _get_clock(self, _request: HttpRequest, _parameters: dict[str, str]) -> HttpResponse:
        return json_response(*self.clock.handle_get())

    def _post_clock(self, request: HttpRequest, _parameters: dict[str, str]) -> HttpResponse:
        try:
            body = request.json()
        except ValueError:
            return json_response(400, {"message": 'the body must be JSON, such as {"advance": "P3D"}'})
        return json_response(*self.clock.handle_post(body))

    def _post_inbound(self, request: HttpRequest, _parameters: dict[str, str]) -> HttpResponse:
        """A raw RFC 5322 message, received as the SMTP listener receives it (`?to=`, `?from=`)."""
        if not request.body.strip():
            return json_response(400, {"message": "the body must be a raw RFC 5322 message"})
        query = parse_qs(request.raw_query)
        senders = query.get("from") or []
        envelope = envelope_of(request.body, addresses(query.get("to", [])), senders[0] if senders else None)
        if not envelope.recipients:
            return json_response(400, {"message": "no recipient: give ?to= or a To header"})
        receiver = self.event_sources.receiver
        refused = [address for address in envelope.recipients if not receiver.covers(address)]
        envelope.recipients = [address for address in envelope.recipients if address not in refused]
        try:
            message_id = receiver.receive(request.body, envelope)
        except MessageRefused as error:
            status = {552: 413, 550: 422}.get(error.code, 503)
            return json_response(status, {"message": error.reason, "refused": refused})
        return json_response(202, {"message_id": message_id, "refused": refused})

    def _get_jwks(self, _request: HttpRequest, _parameters: dict[str, str]) -> HttpResponse:
        return json_response(200, self.issuer.jwks())

    def _post_login(self, request: HttpRequest, _parameters: dict[str, str]) -> HttpResponse:
        try:
            body = request.json()
        except ValueError:
            body = None
        email = body.get("email") if isinstance(body, dict) else None
        if not isinstance(email, str) or not email.strip():
            return json_response(400, {"message": 'send {"email": "..."}'})
        return json_response(*auth.login(self.issuer, self.login_authorizer, email))


def _forget_domain_caches() -> None:
    """The domain package caches settings, clients and connections: read the environment anew."""
    from closeloop.caches import forget_all

    forget_all()


_PAGES = (
    ("Health", "GET", "/health"),
    ("API docs", "GET", "/docs"),
    ("OpenAPI document", "GET", "/openapi.json"),
    ("Who am I", "GET", "/me"),
    ("Staff pages", "GET", "/staff"),
    ("Sign in (pick a staff member)", "GET", "/_local/login"),
    ("Outbox", "GET", "/_local/outbox"),
    ("Clock", "GET", "/_local/clock"),
    ("Sign in for the API (a token)", "POST", "/_local/login"),
    ("Inbound mail (raw)", "POST", "/_local/inbound"),
)


def describe(runtime: Runtime) -> list[tuple[str, str]]:
    """What a person needs to use the running runtime, as (what, where): the pages it serves."""
    served = {route.path for route in runtime.gateway.api_routes.routes()}
    served |= {route.path for route in runtime.gateway.local_routes.routes()}
    return [
        ("Gateway", runtime.url),
        *[
            (label, f"{runtime.url}{path}" if method == "GET" else f"{method} {runtime.url}{path}")
            for label, method, path in _PAGES
            if path in served
        ],
        ("Inbound mail (SMTP)", f"smtp://{HOST}:{runtime.smtp_port}"),
    ]


def serve(
    template_path: str | Path,
    *,
    port: int = 3000,
    seed: bool = True,
    parameters: Mapping[str, Any] | None = None,
    announce: Callable[[list[tuple[str, str]]], None] | None = None,
    smtp_port: int = SMTP_PORT,
) -> None:
    """Run the runtime until Ctrl-C (or SIGTERM), then stop it cleanly."""
    stopping = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    runtime = Runtime(template_path, port=port, seed=seed, parameters=parameters, smtp_port=smtp_port)
    try:
        runtime.start()
        entries = describe(runtime)
        if announce is not None:
            announce(entries)
        else:
            runtime.logs.write("runtime", "ready: " + ", ".join(f"{label} {where}" for label, where in entries))
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        runtime.stop()
        signal.signal(signal.SIGTERM, previous)
