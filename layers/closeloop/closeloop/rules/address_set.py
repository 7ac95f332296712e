"""The addresses an import has seen, in 12 bytes each: 8-byte hashes and the first line of each.

A dict of Python ints costs about 100 bytes an entry (two int objects and a slot), so a file of
a million addresses would hold 100 MB for duplicate detection alone. This is an open-addressing
table over two flat arrays (linear probing, grown at 60% load): 12 bytes an entry at most twice
over, the only part of an import's memory that grows with the file.
"""

from __future__ import annotations

from array import array

_EMPTY = 0
_MIN_CAPACITY = 1 << 10
_MAX_LOAD = 0.6


class AddressSet:
    """8-byte address hashes -> the first line that had each (lines from 1, below 2**32; hash 0 kept apart)."""

    def __init__(self) -> None:
        self._keys = array("Q", bytes(8 * _MIN_CAPACITY))
        self._lines = array("I", bytes(4 * _MIN_CAPACITY))
        self._size = 0
        self._zero_line = 0  # hash 0 lives here: 0 marks an empty slot in the arrays

    def __len__(self) -> int:
        return self._size

    def _slot(self, key: int) -> int:
        mask = len(self._keys) - 1
        slot = (key ^ (key >> 29)) & mask
        keys = self._keys
        while keys[slot] != _EMPTY and keys[slot] != key:
            slot = (slot + 1) & mask
        return slot

    def get(self, digest: int) -> int | None:
        """The first line with this hash, or None."""
        if digest == _EMPTY:
            return self._zero_line or None
        key = digest
        slot = self._slot(key)
        return self._lines[slot] if self._keys[slot] == key else None

    def setdefault(self, digest: int, line: int) -> int:
        """The first line with this hash, recording `line` when it is the first."""
        if digest == _EMPTY:
            if not self._zero_line:
                self._zero_line = line
                self._size += 1
            return self._zero_line
        key = digest
        slot = self._slot(key)
        if self._keys[slot] == key:
            return int(self._lines[slot])
        self._keys[slot] = key
        self._lines[slot] = line
        self._size += 1
        if self._size > _MAX_LOAD * len(self._keys):
            self._grow()
        return line

    def _grow(self) -> None:
        keys, lines = self._keys, self._lines
        capacity = 2 * len(keys)
        self._keys = array("Q", bytes(8 * capacity))
        self._lines = array("I", bytes(4 * capacity))
        for key, line in zip(keys, lines, strict=True):
            if key != _EMPTY:
                slot = self._slot(key)
                self._keys[slot] = key
                self._lines[slot] = line
