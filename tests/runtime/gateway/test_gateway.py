"""The local gateway over HTTP, on a small template of its own: routes, events, answers, JWTs, workers."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from closeloop.models import Staff
from closeloop.services.directory import add_staff
from closeloop_local.runtime import Runtime

TEMPLATE = Path(__file__).with_name("template.yaml")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    state = tmp_path_factory.mktemp("state")
    with Runtime(TEMPLATE, port=0, seed=False, state_dir=state, echo_logs=False) as started:
        yield started


@pytest.fixture(scope="module")
def http(runtime: Runtime) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=runtime.url, timeout=60) as client:
        yield client


def echoed(response: httpx.Response) -> dict[str, Any]:
    """The event the echo function was given."""
    assert response.status_code == 200, response.text
    event: dict[str, Any] = response.json()["event"]
    return event


def sign_in(http: httpx.Client, email: str) -> str:
    response = http.post("/_local/login", json={"email": email})
    assert response.status_code == 200, response.text
    token: str = response.json()["id_token"]
    return token


# ---------------------------------------------------------------------- routing
def test_an_unknown_route_answers_404(http: httpx.Client) -> None:
    response = http.get("/nowhere")

    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


def test_a_known_path_asked_with_another_method_answers_405_with_the_allowed_methods(http: httpx.Client) -> None:
    response = http.delete("/boom")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_a_payload_over_10_mb_answers_413(http: httpx.Client) -> None:
    response = http.post("/echo/big", content=b"x" * (10 * 1024 * 1024 + 1))

    assert response.status_code == 413


def test_an_exact_route_wins_over_a_greedy_one(http: httpx.Client) -> None:
    assert echoed(http.get("/files/readme"))["routeKey"] == "GET /files/readme"

    event = echoed(http.get("/files/docs/guide.txt"))

    assert event["routeKey"] == "GET /files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "docs/guide.txt"}


def test_head_is_served_by_the_get_route_without_a_body(http: httpx.Client) -> None:
    expected = http.get("/files/readme")

    response = http.head("/files/readme")

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(expected.content))


# ---------------------------------------------------------------------- the event a function gets
def test_a_request_reaches_the_function_in_the_payload_2_0_shape(http: httpx.Client) -> None:
    # Given a binary body, repeated headers and query parameters, cookies and an encoded path
    body = bytes(range(256))

    # When it is sent to a route with a path parameter
    event = echoed(
        http.post(
            "/echo/caf%C3%A9?colour=red&colour=blue&empty=",
            content=body,
            headers=[
                ("content-type", "application/octet-stream"),
                ("X-Multi", "one"),
                ("X-Multi", "two"),
                ("cookie", "session=abc; theme=dark"),
            ],
        )
    )

    # Then the function sees it as API Gateway would hand it over
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /echo/{item}"
    assert event["rawPath"] == "/echo/caf%C3%A9"
    assert event["pathParameters"] == {"item": "café"}
    assert event["rawQueryString"] == "colour=red&colour=blue&empty="
    assert event["queryStringParameters"] == {"colour": "red,blue", "empty": ""}
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "one,two"
    assert event["headers"]["content-type"] == "application/octet-stream"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body
    context = event["requestContext"]
    assert context["http"]["method"] == "POST"
    assert context["http"]["path"] == "/echo/caf%C3%A9"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["stage"] == "$default"
    assert context["routeKey"] == "ANY /echo/{item}"
    assert context["accountId"] == "123456789012"
    assert context["requestId"]
    assert context["timeEpoch"] > 0
    assert "authorizer" not in context


def test_a_json_body_reaches_the_function_as_text(http: httpx.Client) -> None:
    event = echoed(http.put("/echo/x", json={"score": 9}))

    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"score": 9}
    assert "queryStringParameters" not in event
    assert "cookies" not in event


# ---------------------------------------------------------------------- what a function's answer means
def test_a_function_answer_with_a_status_becomes_the_http_response(http: httpx.Client) -> None:
    answer = {
        "statusCode": 201,
        "headers": {"x-answer": "yes", "content-type": "image/png"},
        "cookies": ["session=abc; Path=/", "theme=dark"],
        "body": base64.b64encode(b"\x89PNG\x00").decode(),
        "isBase64Encoded": True,
    }

    response = http.post("/respond", json=answer)

    assert response.status_code == 201
    assert response.headers["x-answer"] == "yes"
    assert response.headers.get_list("set-cookie") == ["session=abc; Path=/", "theme=dark"]
    assert response.content == b"\x89PNG\x00"
    assert response.headers["apigw-requestid"]


@pytest.mark.parametrize(
    ("answer", "body"),
    [("hello", b"hello"), ({"message": "hi"}, b'{"message": "hi"}'), ([1, 2], b"[1, 2]")],
)
def test_any_other_answer_becomes_a_200_json_response(http: httpx.Client, answer: Any, body: bytes) -> None:
    response = http.post("/respond", json=answer)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == body


def test_a_malformed_answer_becomes_a_500(http: httpx.Client) -> None:
    response = http.post("/respond", json={"statusCode": "many"})

    assert response.status_code == 500
    assert response.json()["message"] == "Internal Server Error"


# ---------------------------------------------------------------------- failures
def test_a_function_that_raises_answers_500_with_the_request_id_and_the_next_request_is_served(
    http: httpx.Client,
) -> None:
    failed = http.get("/boom")

    assert failed.status_code == 500
    assert failed.json() == {"message": "Internal Server Error", "requestId": failed.headers["apigw-requestid"]}
    assert http.get("/files/readme").status_code == 200
    assert http.get("/boom").status_code == 500


def test_a_function_past_its_timeout_answers_500_and_a_fresh_worker_serves_the_next_request(
    runtime: Runtime, http: httpx.Client
) -> None:
    started = time.monotonic()
    timed_out = http.get("/slow")

    assert timed_out.status_code == 500
    assert time.monotonic() - started < 4  # killed at its 1 s timeout, not left to sleep 5 s
    quick = http.get("/slow", params={"quick": "1"})
    assert quick.status_code == 200
    assert quick.json()["pid"] in runtime.workers.pids()


def test_twenty_concurrent_requests_to_one_function_are_all_in_flight_at_once(http: httpx.Client) -> None:
    # Given a function that answers only once 20 invocations have counted themselves in
    run = uuid.uuid4().hex

    # When 20 requests arrive together
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda _: http.post(f"/gather/{run}", params={"n": 20}), range(20)))

    # Then all are served, each by a worker of its own
    assert [response.status_code for response in responses] == [200] * 20, responses[0].text
    assert len({response.json()["pid"] for response in responses}) == 20


# ---------------------------------------------------------------------- functions apart
def test_each_function_sees_its_own_environment_and_its_own_app_module(runtime: Runtime, http: httpx.Client) -> None:
    a = http.get("/flavour/a").json()
    b = http.get("/flavour/b").json()

    assert (a["module"], a["module_flavour"], a["environment"]["FLAVOUR"]) == ("app", "a", "vanilla")
    assert (b["module"], b["module_flavour"], b["environment"]["FLAVOUR"]) == ("app", "b", "chocolate")
    assert a["pid"] != b["pid"]
    assert a["cwd"] == str(TEMPLATE.parent / "functions" / "flavour_a")
    environment = a["environment"]
    assert environment["STAGE"] == "test"
    assert environment["STAFF_TABLE"] == "gateway-test-staff"
    assert environment["AWS_LAMBDA_FUNCTION_NAME"] == "closeloop-local-FlavourAFunction"
    assert environment["AWS_ENDPOINT_URL"] == runtime.moto_endpoint
    assert environment["PUBLIC_BASE_URL"] == runtime.url
    assert environment["CLOSELOOP_LOCAL"] == "1"
    assert environment["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert environment["AWS_ACCESS_KEY_ID"] != b["environment"]["AWS_ACCESS_KEY_ID"]
    assert "PYTEST_CURRENT_TEST" not in environment  # nothing leaks from the process that runs the runtime
    assert a["memory_limit_in_mb"] == "256"
    assert a["invoked_function_arn"] == runtime.arn("FlavourAFunction")
    assert runtime.arn("FlavourAFunction") == (
        "arn:aws:lambda:eu-west-1:123456789012:function:closeloop-local-FlavourAFunction"
    )


# ---------------------------------------------------------------------- the JWT authorizer
@pytest.fixture(scope="module")
def caller_manager(runtime: Runtime) -> str:
    email = "claire.martin@example.com"
    add_staff(email=email, name="Claire Martin", groups={"caller", "manager"}, language="fr")
    return email


def forged(runtime: Runtime, **changes: Any) -> str:
    """A token like the issuer's, signed by another key."""
    claims = jwt.decode(
        runtime.issuer.issue(runtime.login_authorizer, subject="s", email="e@x", groups=[], locale="fr"),
        options={"verify_signature": False},
    )
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode({**claims, **changes}, other, algorithm="RS256", headers={"kid": runtime.issuer.key_id})


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-a-token",
        "forged",
        "expired",
        "other audience",
    ],
)
def test_a_jwt_route_answers_401_without_a_token_the_issuer_would_accept(
    runtime: Runtime, http: httpx.Client, authorization: str | None
) -> None:
    issuer, authorizer = runtime.issuer, runtime.login_authorizer
    tokens = {
        "forged": forged(runtime),
        "expired": issuer.issue(authorizer, subject="s", email="e@x", groups=[], locale="fr", lifetime=-5),
        "other audience": issuer.issue(
            type(authorizer)(name="Other", issuer=authorizer.issuer, audience=("someone-else",)),
            subject="s",
            email="e@x",
            groups=[],
            locale="fr",
        ),
    }
    headers = {}
    if authorization is not None:
        headers["authorization"] = f"Bearer {tokens[authorization]}" if authorization in tokens else authorization

    response = http.get("/whoami", headers=headers)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_a_token_from_local_login_opens_a_jwt_route_with_claims_shaped_as_api_gateway_hands_them(
    runtime: Runtime, http: httpx.Client, caller_manager: str
) -> None:
    token = sign_in(http, caller_manager)

    event = echoed(http.get("/whoami", headers={"authorization": f"Bearer {token}"}))

    jwt_context = event["requestContext"]["authorizer"]["jwt"]
    claims = jwt_context["claims"]
    assert claims["cognito:groups"] == "[caller manager]"
    assert claims["email"] == caller_manager
    assert claims["email_verified"] == "true"
    assert claims["token_use"] == "id"
    assert claims["locale"] == "fr"
    assert claims["iss"] == f"https://cognito-idp.eu-west-1.amazonaws.com/{runtime.template.refs['UserPool']}"
    assert runtime.template.refs["UserPool"].startswith("eu-west-1_")  # made in moto
    assert claims["aud"] == runtime.template.refs["UserPoolClient"]
    assert claims["exp"].isdigit()
    assert int(claims["exp"]) - int(claims["iat"]) == 3600
    assert all(isinstance(value, str) for value in claims.values())
    assert jwt_context["scopes"] is None


def test_local_login_refuses_an_unknown_email_and_an_inactive_staff_member(http: httpx.Client) -> None:
    add_staff(email="gone@example.com", name="Gone", groups={"caller"})
    gone = Staff.find_by_email("gone@example.com")
    assert gone is not None
    gone.update(actions=[Staff.active.set(False)])

    assert http.post("/_local/login", json={"email": "nobody@example.com"}).status_code == 404
    assert http.post("/_local/login", json={"email": "gone@example.com"}).status_code == 403
    assert http.post("/_local/login", json={}).status_code == 400


def test_the_jwks_publishes_the_key_that_signs_the_tokens(http: httpx.Client, caller_manager: str) -> None:
    token = sign_in(http, caller_manager)

    keys = jwt.PyJWKSet.from_dict(http.get("/_local/jwks.json").json())

    key = keys[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key.key, algorithms=["RS256"], options={"verify_aud": False})
    assert claims["email"] == caller_manager


# ---------------------------------------------------------------------- the runtime's own controls
def test_the_clock_controls_are_served_under_local(http: httpx.Client) -> None:
    before = http.get("/_local/clock")
    assert before.status_code == 200

    moved = http.post("/_local/clock", json={"advance": "P1D"})

    assert moved.status_code == 200, moved.text
    assert http.post("/_local/clock", content=b"not json").status_code == 400
