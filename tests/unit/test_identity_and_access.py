"""Who is signed in, and which groups each route admits."""

from __future__ import annotations

import pytest

from closeloop.api.access import MANAGERS, PUBLIC, ROUTE_ACCESS, STAFF, decide
from closeloop.identity import identity_from_event, parse_groups
from tests.support import load_event


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[caller manager]", {"caller", "manager"}),
        ("[admin]", {"admin"}),
        ('["caller","manager"]', {"caller", "manager"}),
        (["caller", "admin"], {"caller", "admin"}),
        ("caller,manager", {"caller", "manager"}),
        ("[]", set()),
        ("", set()),
        (None, set()),
    ],
)
def test_groups_are_read_in_every_shape_api_gateway_or_a_client_may_give(raw: object, expected: set[str]) -> None:
    assert parse_groups(raw) == expected


def test_the_identity_of_a_jwt_route_comes_from_the_claims_api_gateway_hands_over() -> None:
    identity = identity_from_event(load_event("http/me.json"))

    assert identity is not None
    assert identity.email == "claire.martin@demo.closeloop.example"
    assert identity.groups == {"caller", "manager"}
    assert identity.locale == "fr"


def test_a_public_route_has_no_identity() -> None:
    assert identity_from_event(load_event("http/health.json")) is None


def test_a_public_route_admits_anyone() -> None:
    assert decide("GET /health", frozenset(), authenticated=False).allowed


def test_a_staff_route_refuses_someone_not_signed_in() -> None:
    decision = decide("GET /me", frozenset(), authenticated=False)
    assert not decision.allowed
    assert "sign in" in decision.reason


def test_a_staff_route_admits_each_staff_group() -> None:
    for group in STAFF:
        assert decide("GET /me", frozenset({group}), authenticated=True).allowed


def test_a_manager_route_refuses_a_caller_and_says_which_groups_it_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(ROUTE_ACCESS, "POST /waves", MANAGERS)

    decision = decide("POST /waves", frozenset({"caller"}), authenticated=True)

    assert not decision.allowed
    assert "admin, manager" in decision.reason
    assert decide("POST /waves", frozenset({"manager"}), authenticated=True).allowed


def test_a_route_without_an_access_rule_is_refused_even_to_an_admin() -> None:
    assert not decide("DELETE /everything", frozenset({"admin"}), authenticated=True).allowed


def test_public_routes_are_marked_public() -> None:
    assert ROUTE_ACCESS["GET /health"] == PUBLIC
