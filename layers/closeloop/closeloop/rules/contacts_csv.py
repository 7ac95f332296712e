"""Reading a contacts CSV as a stream: encoding, separator, header names, one record at a time.

Accepted: UTF-8 with or without BOM (UTF-16 with a BOM too), else cp1252 (Excel in France); `,`,
`;` or tab separators; quoted fields, quotes doubled inside them, line breaks inside quotes;
header names in French or English. The bytes come in chunks and are decoded incrementally, so
memory holds one chunk and one record, whatever the size of the file.

Problems of the whole file (binary, empty, no email column) raise `FileProblem`; problems of one
record (unreadable characters, more cells than columns, quotes that do not pair up) are given with the
record, so that the import reports them and goes on.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from closeloop.rules.contact_fields import Language

SAMPLE_BYTES = 64 * 1024
MAX_RECORD_LINES = 20
MAX_RECORD_CHARS = 64 * 1024
REQUIRED = ("email",)

# folded header name -> field
HEADER_NAMES: dict[str, str] = {}
for _field, _names in {
    "email": (
        "email",
        "e-mail",
        "e mail",
        "mail",
        "courriel",
        "adresse e-mail",
        "adresse email",
        "adresse mail",
        "email address",
        "e-mail address",
        "adresse courriel",
    ),
    "first_name": ("prenom", "first name", "firstname", "first_name", "given name"),
    "last_name": ("nom", "last name", "lastname", "last_name", "surname", "family name", "nom de famille"),
    "phone": ("telephone", "tel", "tel.", "phone", "phone number", "numero de telephone", "mobile", "portable"),
    "company": (
        "societe",
        "entreprise",
        "company",
        "compte",
        "account",
        "organisation",
        "organization",
        "raison sociale",
        "etablissement",
    ),
    "segment": ("segment",),
    "language": ("langue", "language", "lang"),
    "account_owner": (
        "responsable",
        "account owner",
        "account_owner",
        "owner",
        "responsable du compte",
        "charge de compte",
        "chargee de compte",
    ),
    "weight": ("poids", "weight", "ponderation"),
}.items():
    for _name in _names:
        HEADER_NAMES[re.sub(r"[\s_]+", " ", _name)] = _field

FILE_MESSAGES: dict[str, dict[Language, str]] = {
    "empty": {"en": "the file is empty", "fr": "le fichier est vide"},
    "no_rows": {
        "en": "the file has a header line but no contact",
        "fr": "le fichier a une ligne d'en-tête mais aucun contact",
    },
    "binary": {
        "en": "this is not a text file: export the contacts as CSV",
        "fr": "ce n'est pas un fichier texte : exportez les contacts en CSV",
    },
    "spreadsheet": {
        "en": "this is a spreadsheet or document, not a CSV file: in Excel, use Save as > CSV",
        "fr": "c'est un classeur ou un document, pas un fichier CSV : dans Excel, faites Enregistrer sous > CSV",
    },
    "missing_columns": {
        "en": "required column missing: {columns} (columns found: {found})",
        "fr": "colonne obligatoire absente : {columns} (colonnes trouvées : {found})",
    },
    "duplicate_columns": {
        "en": "several columns mean the same field: {columns}",
        "fr": "plusieurs colonnes désignent le même champ : {columns}",
    },
    "unreadable": {"en": "the uploaded file cannot be read", "fr": "le fichier déposé est illisible"},
    "interrupted": {
        "en": "the import stopped on an unexpected error; upload the file again",
        "fr": "l'import s'est arrêté sur une erreur inattendue ; déposez à nouveau le fichier",
    },
}

RECORD_MESSAGES: dict[str, dict[Language, str]] = {
    "encoding": {
        "en": "characters that cannot be read (save the file as UTF-8 CSV)",
        "fr": "caractères illisibles (enregistrez le fichier en CSV UTF-8)",
    },
    "too_many_cells": {
        "en": "more cells than columns (a separator inside a value without quotes?)",
        "fr": "plus de cellules que de colonnes (un séparateur dans une valeur sans guillemets ?)",
    },
    "unbalanced_quotes": {
        "en": "quotes that do not pair up, from this line (lines {first} to {last} skipped)",
        "fr": "des guillemets qui ne vont pas par paires à partir de cette ligne (lignes {first} à {last} ignorées)",
    },
    "duplicate": {"en": "duplicate of line {of_line}", "fr": "doublon de la ligne {of_line}"},
    "conflict": {
        "en": "the contact changed during the import: import the file again",
        "fr": "le contact a changé pendant l'import : importez à nouveau le fichier",
    },
}


class FileProblem(Exception):
    """The file as a whole cannot be imported; `code` and `params` make the report's message."""

    def __init__(self, code: str, **params: str) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Record:
    """One data record: its first line in the file, its cells by field, or why it cannot be read."""

    line: int
    values: dict[str, str]
    problem: str | None = None
    params: dict[str, str] = field(default_factory=dict)


def fold_header(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[\s_]+", " ", folded.replace("*", "")).strip(" :")


# ------------------------------------------------------------------ bytes to text


def _fallback_to_cp1252(error: UnicodeError) -> tuple[str, int]:
    """A UTF-8 file with a few cp1252 bytes (two files pasted together): read those bytes as cp1252."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return bytes(bad).decode("cp1252", errors="replace"), error.end


codecs.register_error("closeloop-cp1252", _fallback_to_cp1252)


class _Chunks(io.RawIOBase):
    """The chunks of a stream as a raw file, counting the bytes read."""

    def __init__(self, head: bytes, rest: Iterator[bytes]) -> None:
        self._buffer = head
        self._rest = rest
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            try:
                self._buffer = next(self._rest)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        self.bytes_read += size
        return size


def _sample(chunks: Iterator[bytes]) -> tuple[bytes, bool]:
    """The first SAMPLE_BYTES (or the whole file), and whether that is the whole file."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size >= SAMPLE_BYTES:
            return b"".join(parts), False
    return b"".join(parts), True


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"%PDF", b"{\\rtf")


def detect_encoding(sample: bytes, *, complete: bool) -> str:
    """The codec to read the file with; raises FileProblem for what is not text."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if sample.startswith(_SIGNATURES):
        raise FileProblem("spreadsheet")
    controls = sum(1 for byte in sample if byte < 0x20 and byte not in (0x09, 0x0A, 0x0D)) + sample.count(0x7F)
    if b"\x00" in sample or controls > max(2, len(sample) // 100):
        raise FileProblem("binary")
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=complete)
    except UnicodeDecodeError:
        # Some bytes are not UTF-8. A file with more real UTF-8 sequences than such bytes is UTF-8
        # with a few cp1252 bytes pasted in (those are read as cp1252); otherwise it is cp1252.
        invalid = sample[: len(sample) - 4].decode("utf-8", errors="replace").count("\ufffd")
        valid = len(_UTF8_SEQUENCE.findall(sample))
        return "utf-8" if valid > invalid else "cp1252"
    return "utf-8"


def detect_delimiter(header_line: str) -> str:
    """`;`, `,` or tab: the one the header line uses most outside quotes (`,` if none)."""
    outside = re.sub(r'"[^"]*"', "", header_line)
    counts = {delimiter: outside.count(delimiter) for delimiter in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


# ------------------------------------------------------------------ the reader


class _Lines:
    """Physical lines of the text, counted; refuses to feed one record beyond its limits."""

    class Runaway(Exception):
        pass

    def __init__(self, text: Iterator[str]) -> None:
        self._text = text
        self.number = 0  # physical lines read so far
        self.record_lines = 0
        self.record_chars = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._text)
        self.number += 1
        self.record_lines += 1
        self.record_chars += len(line)
        if self.record_lines > MAX_RECORD_LINES or self.record_chars > MAX_RECORD_CHARS:
            raise _Lines.Runaway
        return line

    def new_record(self) -> None:
        self.record_lines = 0
        self.record_chars = 0


class ContactsCsv:
    """An open contacts CSV: its format and header, then its records, read as they are needed."""

    header_names: dict[str, str] = HEADER_NAMES  # folded column title -> field (a subclass reads other files)
    required: tuple[str, ...] = REQUIRED

    def __init__(self, chunks: Iterable[bytes]) -> None:
        source = iter(chunks)
        sample, complete = _sample(source)
        if not sample.strip(b" \t\r\n\x00" + codecs.BOM_UTF8):
            raise FileProblem("empty")
        self.encoding = detect_encoding(sample, complete=complete)
        self._raw = _Chunks(sample, source)
        errors = "closeloop-cp1252" if self.encoding == "utf-8" else "replace"
        text = io.TextIOWrapper(
            io.BufferedReader(self._raw, buffer_size=SAMPLE_BYTES), encoding=self.encoding, errors=errors, newline=""
        )
        self._lines = _Lines(text)
        header_line = next(self._lines, "")
        if not header_line.strip():
            raise FileProblem("empty")
        self.delimiter = detect_delimiter(header_line)
        names = next(csv.reader([header_line], delimiter=self.delimiter))
        self.header = [name.strip() for name in names]
        self.columns, self.ignored = self._map_header(self.header)
        self._reader = csv.reader(self._lines, delimiter=self.delimiter, quotechar='"', doublequote=True, strict=True)

    @classmethod
    def _map_header(cls, header: list[str]) -> tuple[dict[str, int], list[str]]:
        columns: dict[str, int] = {}
        ignored: list[str] = []
        doubled: list[str] = []
        for index, name in enumerate(header):
            mapped = cls.header_names.get(fold_header(name))
            if mapped is None:
                if name:
                    ignored.append(name)
            elif mapped in columns:
                doubled.append(f"{header[columns[mapped]]} / {name}")
            else:
                columns[mapped] = index
        if doubled:
            raise FileProblem("duplicate_columns", columns=", ".join(doubled))
        missing = [name for name in cls.required if name not in columns]
        if missing:
            found = ", ".join(name for name in header if name) or "-"
            raise FileProblem("missing_columns", columns=", ".join(missing), found=found)
        return columns, ignored

    @property
    def bytes_read(self) -> int:
        """Bytes taken from the stream so far (progress: the reader runs up to 64 KiB ahead)."""
        return self._raw.bytes_read

    def __iter__(self) -> Iterator[Record]:
        width = len(self.header)
        while True:
            self._lines.new_record()
            first = self._lines.number + 1
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except (_Lines.Runaway, csv.Error):
                last = self._lines.number
                yield Record(first, {}, "unbalanced_quotes", {"first": str(first), "last": str(last)})
                continue
            if not any(cell.strip() for cell in cells):
                continue  # a blank line, or separators only
            if any(cell.strip() for cell in cells[width:]):
                yield Record(first, {}, "too_many_cells")
                continue
            values = {name: cells[index].strip() for name, index in self.columns.items() if index < len(cells)}
            if any("\ufffd" in value for value in values.values()):
                yield Record(first, values, "encoding")
                continue
            yield Record(first, values)


def describe_file_problem(
    code: str,
    language: Language,
    params: dict[str, str] | None = None,
    *,
    messages: Mapping[str, Mapping[Language, str]] = FILE_MESSAGES,
) -> str:
    template = messages.get(code, {}).get(language) or code
    try:
        return template.format(**(params or {}))
    except (KeyError, IndexError):
        return template


def describe_record_problem(code: str, language: Language, params: dict[str, str] | None = None) -> str:
    template = RECORD_MESSAGES.get(code, {}).get(language) or code
    try:
        return template.format(**(params or {}))
    except (KeyError, IndexError):
        return template
