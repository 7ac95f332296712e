"""Survey, unsubscribe and reply tokens (docs/data-model.md 6): what a link may and may not open."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closeloop import tokens
from closeloop.errors import NotFound
from closeloop.models import invitation_id_for
from closeloop.tokens import TokenKind, read_token, survey_token, unsubscribe_token

KEYS = {"k1": b"first key of the programme", "k2": b"second key, after a rotation"}
_current = {"kid": "k1", "keys": dict(KEYS)}


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    _current["kid"], _current["keys"] = "k1", dict(KEYS)
    monkeypatch.setattr(tokens, "token_keys", lambda: (_current["kid"], dict(_current["keys"])))


invitation_ids = st.tuples(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30)).map(
    lambda pair: invitation_id_for(*pair)
)


def test_a_survey_token_opens_its_own_invitation_and_is_forty_url_safe_characters() -> None:
    invitation_id = invitation_id_for("W1", "C1")

    token = survey_token(invitation_id)

    assert re.fullmatch(r"[A-Za-z0-9_-]{40}", token)
    assert read_token(token, TokenKind.SURVEY) == invitation_id
    assert read_token(token, "survey") == invitation_id


@settings(max_examples=200, deadline=None)
@given(invitation_ids)
def test_no_kind_of_token_is_ever_read_as_another_kind(invitation_id: str) -> None:
    survey, unsubscribe = survey_token(invitation_id), unsubscribe_token(invitation_id)

    assert survey != unsubscribe
    assert read_token(survey, TokenKind.SURVEY) == invitation_id
    assert read_token(unsubscribe, TokenKind.UNSUBSCRIBE) == invitation_id
    for token, wrong in ((survey, TokenKind.UNSUBSCRIBE), (survey, TokenKind.TRAP), (unsubscribe, TokenKind.SURVEY)):
        with pytest.raises(NotFound):
            read_token(token, wrong)


@settings(max_examples=300, deadline=None)
@given(invitation_ids, st.integers(min_value=0, max_value=29), st.integers(min_value=1, max_value=255))
def test_changing_any_byte_of_a_token_makes_it_worthless(invitation_id: str, position: int, flip: int) -> None:
    raw = bytearray(base64.urlsafe_b64decode(survey_token(invitation_id) + "=="))
    raw[position] ^= flip
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")

    with pytest.raises(NotFound):
        read_token(tampered, TokenKind.SURVEY)


def test_the_kind_byte_cannot_be_rewritten_to_turn_a_survey_link_into_an_unsubscribe_link() -> None:
    raw = bytearray(base64.urlsafe_b64decode(survey_token(invitation_id_for("W1", "C1")) + "=="))
    raw[0] = int(TokenKind.UNSUBSCRIBE)
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")

    with pytest.raises(NotFound):
        read_token(forged, TokenKind.UNSUBSCRIBE)


@pytest.mark.parametrize(
    "token",
    ["", "short", "A" * 39, "A" * 41, "!" * 40, "A" * 40, None, 42],
    ids=["empty", "short", "39", "41", "alphabet", "zeros", "none", "number"],
)
def test_anything_that_is_not_a_token_is_not_found(token: object) -> None:
    with pytest.raises(NotFound):
        read_token(token, TokenKind.SURVEY)  # type: ignore[arg-type]


def test_after_a_rotation_old_links_still_work_and_new_ones_name_the_new_key() -> None:
    invitation_id = invitation_id_for("W1", "C1")
    old = survey_token(invitation_id)

    _current["kid"] = "k2"
    new = survey_token(invitation_id)

    assert new != old
    assert base64.urlsafe_b64decode(new + "==")[1] == 2
    assert read_token(old, TokenKind.SURVEY) == invitation_id
    assert read_token(new, TokenKind.SURVEY) == invitation_id


def test_a_token_signed_with_a_retired_key_is_not_found() -> None:
    invitation_id = invitation_id_for("W1", "C1")
    old = unsubscribe_token(invitation_id)

    _current["kid"], _current["keys"] = "k2", {"k2": KEYS["k2"]}

    with pytest.raises(NotFound):
        read_token(old, TokenKind.UNSUBSCRIBE)


def test_a_token_from_another_deployment_with_other_keys_is_not_found() -> None:
    token = survey_token(invitation_id_for("W1", "C1"))

    _current["keys"] = {"k1": b"someone else's key"}

    with pytest.raises(NotFound):
        read_token(token, TokenKind.SURVEY)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_reply_tokens_are_twelve_lower_case_characters_that_survive_a_case_change(data: st.DataObject) -> None:
    token = tokens.generate_reply_token()

    assert re.fullmatch(r"[a-z2-7]{12}", token)
    assert tokens.is_reply_token(token.upper().lower())
    assert tokens.reply_token_hash(token) == hashlib.sha256(token.encode()).hexdigest()
    not_a_token = data.draw(
        st.text(alphabet="abc01!A", min_size=12, max_size=12).filter(lambda t: set(t) & set("01!A"))
    )
    assert not tokens.is_reply_token(not_a_token)


def test_reply_tokens_do_not_repeat() -> None:
    assert len({tokens.generate_reply_token() for _ in range(5000)}) == 5000


def test_reply_and_unsubscribe_addresses_share_the_token_and_the_reply_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLY_DOMAIN", "reply.example.org")

    assert tokens.reply_address("abcdefgh2345") == "reply+abcdefgh2345@reply.example.org"
    assert tokens.unsubscribe_address("abcdefgh2345") == "unsubscribe+abcdefgh2345@reply.example.org"
