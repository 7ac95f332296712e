"""The table of addresses an import has seen: a dict's answers in 12 bytes an entry."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from closeloop.rules.address_set import AddressSet


@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=3000))
def test_the_first_line_of_each_hash_wins_as_with_a_dict(digests: list[int]) -> None:
    table, expected = AddressSet(), {}

    for line, digest in enumerate(digests, start=1):
        assert table.setdefault(digest, line) == expected.setdefault(digest, line)

    assert len(table) == len(expected)
    for digest, line in expected.items():
        assert table.get(digest) == line
    assert table.get(2**64 - 7) == expected.get(2**64 - 7)


def test_hashes_that_collide_in_their_low_bits_are_all_kept() -> None:
    table = AddressSet()
    digests = [n << 40 for n in range(1, 5000)]  # same low bits: one probe chain

    for line, digest in enumerate(digests, start=1):
        table.setdefault(digest, line)

    assert [table.get(digest) for digest in digests] == list(range(1, 5000))
    assert table.get(0) is None


def test_a_hundred_thousand_addresses_take_a_few_megabytes() -> None:
    table = AddressSet()
    for line in range(1, 100_001):
        table.setdefault(line * 0x9E3779B97F4A7C15 % 2**64, line)

    assert len(table) == 100_000
    assert len(table._keys) * 12 <= 4 * 1024 * 1024  # 12 bytes a slot, at most 2**18 slots


def test_hash_zero_is_an_address_like_any_other() -> None:
    table = AddressSet()

    assert table.get(0) is None
    assert table.setdefault(0, 1) == 1
    assert table.setdefault(1, 2) == 2  # not taken for hash 0's slot
    assert table.setdefault(0, 3) == 1
    assert (table.get(0), table.get(1), len(table)) == (1, 2, 2)
