"""Contact imports: an upload URL, the import of the uploaded CSV, and its report.

`start_import` writes the Import item and answers a presigned PUT URL for `imports/<id>.csv`.
S3 then notifies the import function, which calls `run_import`: it claims the import with a
conditional write (a second notification for the same object does nothing), reads the object as
a stream (closeloop.rules.contacts_csv), and handles the records 100 at a time:

- three BatchGetItem calls per 100 records (lookups, contacts, suppressions);
- a new contact: a conditional Put of its lookup item (the email stays unique), then the
  contact in a BatchWriteItem. Written in that order, every contact always has its lookup; a
  lookup whose contact was not written yet (a crash in between) is repaired by the next run;
- a known contact: an UpdateItem of the fields that changed, version-checked; nothing at all
  when nothing changed, so re-importing a file writes no contact;
- then the rejected rows (BatchWriteItem) and the progress (one UpdateItem, under the lease).

Duplicates in one file (also differing in case) are found with the 8-byte hashes of the emails
seen (closeloop.rules.address_set, 12 bytes an address): the first row of an address wins, the
others are reported. A run that stops (timeout,
crash) leaves its progress; the retry takes the lease over and goes on after the last line done.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action

from closeloop import aws, clock
from closeloop.errors import InvalidInput, NotFound
from closeloop.ids import new_id
from closeloop.models import Contact, ContactEmail, Import, ImportRow
from closeloop.models.imports import IMPORT_COUNTS, META, row_key
from closeloop.observability import MetricUnit, logger, metrics
from closeloop.rules import contact_fields as rules
from closeloop.rules.address_set import AddressSet
from closeloop.rules.contact_fields import FIELD_LABELS, FieldProblem, Language
from closeloop.rules.contacts_csv import (
    RECORD_MESSAGES,
    ContactsCsv,
    FileProblem,
    Record,
    describe_file_problem,
    describe_record_problem,
)
from closeloop.secrets import email_hash, hash_key
from closeloop.services.contacts import set_derived, staff_exists, suppressed_hashes
from closeloop.settings import get_settings

UPLOAD_PREFIX = "imports/"
BATCH_ROWS = 100
CHUNK_BYTES = 64 * 1024
WRITERS = 8
RETENTION = timedelta(days=90)
LEASE_MARGIN = timedelta(seconds=30)
STOP_WHEN_LEFT_MS = 30_000
MAX_RUNS = 3  # Lambda runs an asynchronous event at most 3 times
REPORT_PAGE = 100

OPTIONAL_FIELDS = ("first_name", "last_name", "phone", "company", "segment", "language", "account_owner", "weight")


class ImportPaused(Exception):  # raised so that Lambda runs the event again
    """The function is about to time out: progress is saved and the lease released; run it again."""


class _LeaseLost(Exception):
    """Another run took the import over."""


# ------------------------------------------------------------------ starting an import


def upload_key(import_id: str) -> str:
    return f"{UPLOAD_PREFIX}{import_id}.csv"


def import_id_of(key: str) -> str | None:
    """The import an uploaded object belongs to, from its key `imports/<id>.csv`."""
    if not key.startswith(UPLOAD_PREFIX) or not key.endswith(".csv"):
        return None
    name = key[len(UPLOAD_PREFIX) : -len(".csv")]
    return name if name and "/" not in name else None


def start_import(uploaded_by: str) -> dict[str, Any]:
    """A new import waiting for its file, and the URL to PUT the file to."""
    settings = get_settings()
    if not settings.uploads_bucket:
        raise RuntimeError("UPLOADS_BUCKET is not set for this function")
    now = clock.now()
    import_id = new_id()
    item = Import(
        import_id,
        sk=META,
        status="waiting",
        s3_key=upload_key(import_id),
        uploaded_by=uploaded_by,
        expires_at=now + RETENTION,
    )
    item.save(condition=Import.import_id.does_not_exist())
    seconds = settings.import_upload_seconds
    url = aws.client("s3").generate_presigned_url(
        "put_object", Params={"Bucket": settings.uploads_bucket, "Key": item.s3_key}, ExpiresIn=seconds
    )
    logger.info("import started", extra={"import_id": item.import_id})
    return {
        "import_id": item.import_id,
        "status": item.status,
        "upload": {"method": "PUT", "url": url, "expires_at": (now + timedelta(seconds=seconds)).isoformat()},
    }


# ------------------------------------------------------------------ the report


def _plain(value: Any) -> dict[str, str]:
    """A stored map (raw MapAttribute or dict) as plain strings."""
    if value is None:
        return {}
    items = value.as_dict() if hasattr(value, "as_dict") else dict(value)
    return {str(k): str(v) for k, v in items.items()}


def _message(problem: Mapping[str, Any], language: Language) -> str:
    reason = str(problem.get("reason"))
    params = _plain(problem.get("params"))
    if reason in RECORD_MESSAGES:
        return describe_record_problem(reason, language, params)
    name = str(problem.get("field") or "")
    return FieldProblem(reason, name, params).message(language)


def import_report(import_id: str, *, cursor: str | None = None, language: Language = "en") -> dict[str, Any]:
    """Status, counts and a page of rejected rows (line, reason, the email masked)."""
    try:
        meta = Import.get(import_id, META)
    except DoesNotExist:
        raise NotFound("no such import") from None
    start = None
    if cursor:
        if not cursor.isdigit():
            raise InvalidInput("the cursor is not valid: start again without it")
        start = {"import_id": {"S": import_id}, "sk": {"S": row_key(int(cursor))}}
    results = ImportRow.query(import_id, ImportRow.sk.startswith("row#"), limit=REPORT_PAGE, last_evaluated_key=start)
    rows = []
    last_line = 0
    for row in results:
        last_line = int(row.line)
        problems = [dict(p) for p in (row.problems or [])] or [{"reason": row.reason}]
        rows.append(
            {
                "line": int(row.line),
                "reason": row.reason,
                "column": problems[0].get("column"),
                "message": "; ".join(_message(p, language) for p in problems),
                "problems": [
                    {"reason": p.get("reason"), "column": p.get("column"), "message": _message(p, language)}
                    for p in problems
                ],
                "email": row.email_masked,
            }
        )
    more = results.last_evaluated_key
    return {
        **_summary(meta, language),
        "progress": {"bytes_read": int(meta.bytes_read or 0), "size": int(meta.size) if meta.size else None},
        "file": {
            "encoding": meta.encoding,
            "separator": meta.delimiter,
            "columns": list(meta.columns or []),
            "ignored_columns": list(meta.ignored_columns or []),
        },
        "started_at": meta.started_at.isoformat() if meta.started_at else None,
        "rejected_rows": rows,
        "next_cursor": str(last_line) if more and last_line else None,
    }


LIST_PAGE = 20


def _summary(meta: Import, language: Language) -> dict[str, Any]:
    error = None
    if meta.error:
        error = {"code": meta.error, "message": describe_file_problem(meta.error, language, _plain(meta.error_params))}
    return {
        "import_id": meta.import_id,
        "status": meta.status,
        "counts": {name: int(getattr(meta, name) or 0) for name in IMPORT_COUNTS},
        "error": error,
        "uploaded_by": meta.uploaded_by,
        "created_at": meta.created_at.isoformat() if meta.created_at else None,
        "finished_at": meta.finished_at.isoformat() if meta.finished_at else None,
    }


def list_imports(*, cursor: str | None = None, language: Language = "en") -> dict[str, Any]:
    """The imports, newest first, 20 a page: status, counts and who uploaded (no rows)."""
    start = None
    if cursor:
        if len(cursor) != 26 or not cursor.isalnum():
            raise InvalidInput("the cursor is not valid: start again without it")
        start = {"kind": {"S": "contacts"}, "import_id": {"S": cursor}, "sk": {"S": META}}
    results = Import.by_kind.query("contacts", scan_index_forward=False, limit=LIST_PAGE, last_evaluated_key=start)
    imports = [_summary(meta, language) for meta in results]
    more = results.last_evaluated_key
    return {"imports": imports, "next_cursor": imports[-1]["import_id"] if more and imports else None}


# ------------------------------------------------------------------ running an import


def mask_email(value: str | None) -> str | None:
    """`jean.dupont@pharma.fr` -> `j***@p***.fr`: enough to find the row, not enough to read it."""
    text = (value or "").strip()
    if not text:
        return None
    local, at, domain = text.rpartition("@")
    if not at:
        return text[:1] + "***"
    name, dot, tld = domain.rpartition(".")
    masked_domain = f"{name[:1]}***.{tld}" if dot else f"{domain[:1]}***"
    return f"{local[:1]}***@{masked_domain}"


@dataclass
class _Candidate:
    """A valid row: the fields its file gives (non-empty cells), normalised."""

    line: int
    email: str
    fields: dict[str, Any]
    email_hash: str = ""


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(IMPORT_COUNTS, 0))

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] += n


class _Run:
    """One run of the import function over one import."""

    def __init__(self, meta: Import, owner: str, remaining_ms: Callable[[], int]) -> None:
        self.meta = meta
        self.owner = owner
        self.remaining_ms = remaining_ms
        self.seen = AddressSet()  # 8 bytes of the email's hash -> first line with it
        self.staff: dict[str, bool] = {}
        self.key = hash_key()
        self.started_at: datetime = meta.started_at or clock.now()
        self.tally = _Tally()
        self.bad: list[ImportRow] = []
        self.lock = threading.Lock()
        self.header: list[str] = []
        self.columns: dict[str, int] = {}

    # ---------------------------------------------------------------- checks of one record
    def column_of(self, name: str) -> str | None:
        index = self.columns.get(name)
        return self.header[index] if index is not None and index < len(self.header) else None

    def reject(self, line: int, problems: list[dict[str, Any]], email: str | None) -> None:
        self.bad.append(
            ImportRow(
                self.meta.import_id,
                row_key(line),
                line=line,
                reason=problems[0]["reason"],
                problems=problems,
                email_masked=mask_email(email),
                expires_at=self.meta.expires_at,
            )
        )
        self.tally.add("rejected")

    def problem(self, reason: str, name: str | None = None, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        found: dict[str, Any] = {"reason": reason, "params": dict(params or {})}
        if name:
            found["field"] = name
            found["column"] = self.column_of(name) or FIELD_LABELS.get(name, {}).get("en", name)
        return found

    def check(self, record: Record) -> _Candidate | None:
        """A valid row, or None once its problems are recorded."""
        raw_email = record.values.get("email")
        if record.problem:
            self.reject(record.line, [self.problem(record.problem, params=record.params)], raw_email)
            return None
        try:
            normal = rules.email(raw_email)
        except FieldProblem as error:
            self.reject(record.line, [self.problem(error.code, "email", error.params)], raw_email)
            return None
        digest = int.from_bytes(hashlib.blake2b(normal.encode(), digest_size=8).digest(), "big")
        first = self.seen.setdefault(digest, record.line)
        if first != record.line:
            self.reject(record.line, [self.problem("duplicate", "email", {"of_line": str(first)})], raw_email)
            return None
        values: dict[str, Any] = {}
        problems: list[dict[str, Any]] = []
        for name in OPTIONAL_FIELDS:
            cell = record.values.get(name, "")
            if not cell:
                continue
            try:
                values[name] = _clean_cell(name, cell)
            except FieldProblem as error:
                problems.append(self.problem(error.code, name, error.params))
        owner = values.get("account_owner")
        if owner and not self.owner_known(owner):
            problems.append(self.problem("unknown_account_owner", "account_owner"))
        if problems:
            self.reject(record.line, problems, raw_email)
            return None
        return _Candidate(record.line, normal, values)

    def check_seen_only(self, record: Record) -> None:
        """A record done by an earlier run: only remember its address, for the duplicates after it."""
        if record.problem:
            return
        try:
            normal = rules.email(record.values.get("email"))
        except FieldProblem:
            return
        digest = int.from_bytes(hashlib.blake2b(normal.encode(), digest_size=8).digest(), "big")
        self.seen.setdefault(digest, record.line)

    def owner_known(self, owner: str) -> bool:
        if owner not in self.staff:
            self.staff[owner] = staff_exists(owner)
        return self.staff[owner]

    # ---------------------------------------------------------------- one batch
    def process(self, candidates: list[_Candidate]) -> None:
        for candidate in candidates:
            candidate.email_hash = email_hash(candidate.email, self.key)
        hashes = [c.email_hash for c in candidates]
        lookups = {item.email_hash: item.contact_id for item in ContactEmail.batch_get(hashes)} if hashes else {}
        ids = list(set(lookups.values()))
        contacts = {item.contact_id: item for item in Contact.batch_get(ids)} if ids else {}
        suppressed = suppressed_hashes(hashes)
        new: list[Contact] = []
        work: list[Callable[[], None]] = []
        for candidate in candidates:
            if candidate.email_hash in suppressed:
                self.tally.add("suppressed")
            contact_id = lookups.get(candidate.email_hash)
            contact = contacts.get(contact_id) if contact_id else None
            if contact_id and contact is None:
                new.append(self.new_contact(candidate, contact_id))  # a lookup left by a run that died
                self.tally.add("created")
            elif contact is not None:
                self.settle(candidate, contact, work)
            else:
                work.append(functools.partial(self.create, candidate, new))
        self.run_all(work)
        with Contact.batch_write() as batch:
            for contact in new:
                batch.save(contact)

    def run_all(self, work: list[Callable[[], None]]) -> None:
        if len(work) <= 1 or WRITERS <= 1:
            for job in work:
                job()
            return
        with ThreadPoolExecutor(min(WRITERS, len(work))) as pool:
            for future in [pool.submit(job) for job in work]:
                future.result()

    def new_contact(self, candidate: _Candidate, contact_id: str) -> Contact:
        now = clock.now()
        values = {"segment": rules.DEFAULT_SEGMENT, "language": get_settings().default_language, "weight": 1}
        values.update(candidate.fields)
        contact = Contact(
            contact_id,
            email=candidate.email,
            email_hash=candidate.email_hash,
            import_id=self.meta.import_id,
            import_line=candidate.line,
            last_activity_at=now,
            created_at=now,
            updated_at=now,
            version=1,
        )
        for name, value in values.items():
            setattr(contact, name, value)
        set_derived(contact)
        return contact

    def create(self, candidate: _Candidate, new: list[Contact]) -> None:
        """Claim the address with a conditional Put of its lookup; the contact follows in a batch."""
        contact_id = new_id()
        try:
            ContactEmail(candidate.email_hash, contact_id=contact_id).save(
                condition=ContactEmail.email_hash.does_not_exist()
            )
        except PutError as error:
            if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
            # Someone created this address since the batch was read: update theirs instead.
            existing = ContactEmail.get(candidate.email_hash, consistent_read=True).contact_id
            try:
                contact = Contact.get(existing, consistent_read=True)
            except DoesNotExist:
                contact = None
            if contact is None:
                with self.lock:
                    new.append(self.new_contact(candidate, existing))
                    self.tally.add("created")
                return
            work: list[Callable[[], None]] = []
            self.settle(candidate, contact, work)
            for job in work:
                job()
            return
        with self.lock:
            new.append(self.new_contact(candidate, contact_id))
            self.tally.add("created")

    def settle(self, candidate: _Candidate, contact: Contact, work: list[Callable[[], None]]) -> None:
        """Count or schedule what a known contact needs: nothing, or an update of what changed."""
        if contact.erased_at is not None:
            with self.lock:
                self.reject(candidate.line, [self.problem("conflict")], candidate.email)
            return
        if contact.import_id == self.meta.import_id and int(contact.import_line or 0) == candidate.line:
            # This very row was written by an earlier run of this import (a resumed import).
            mine = contact.created_at is not None and contact.created_at >= self.started_at
            with self.lock:
                self.tally.add("created" if mine else "updated")
            return
        changed = {name: value for name, value in candidate.fields.items() if _differs(getattr(contact, name), value)}
        if not changed:
            with self.lock:
                self.tally.add("unchanged")
            return
        work.append(lambda: self.update(candidate, contact, changed))

    def update(self, candidate: _Candidate, contact: Contact, changed: dict[str, Any], retry: bool = True) -> None:
        now = clock.now()
        for name, value in changed.items():
            setattr(contact, name, value)
        set_derived(contact)
        attributes = Contact.get_attributes()
        actions: list[Action] = [attributes[name].set(value) for name, value in changed.items()]
        for name in ("company_key", "name_prefix", "name_sort"):
            value = getattr(contact, name)
            actions.append(attributes[name].remove() if value is None else attributes[name].set(value))
        actions += [
            Contact.import_id.set(self.meta.import_id),
            Contact.import_line.set(candidate.line),
            Contact.updated_at.set(now),
            Contact.last_activity_at.set(now),
        ]
        try:
            contact.update(actions=actions)
        except UpdateError as error:
            if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
            if retry:  # edited meanwhile: read it again and apply what still differs
                fresh = Contact.get(contact.contact_id, consistent_read=True)
                still = {n: v for n, v in candidate.fields.items() if _differs(getattr(fresh, n), v)}
                if still:
                    self.update(candidate, fresh, still, retry=False)
                    return
                with self.lock:
                    self.tally.add("unchanged")
                return
            with self.lock:
                self.reject(candidate.line, [self.problem("conflict")], candidate.email)
            return
        with self.lock:
            self.tally.add("updated")

    # ---------------------------------------------------------------- progress
    def checkpoint(self, last_line: int, bytes_read: int, *, finished: bool = False) -> None:
        """Rejected rows, then the counts and the line reached, under the lease."""
        if self.bad:
            with ImportRow.batch_write() as batch:
                for row in self.bad:
                    batch.save(row)
            self.bad = []
        now = clock.now()
        actions: list[Any] = [getattr(Import, name).add(n) for name, n in self.tally.counts.items() if n]
        actions += [Import.resume_line.set(last_line), Import.bytes_read.set(bytes_read), Import.updated_at.set(now)]
        if finished:
            actions += [Import.status.set("done"), Import.finished_at.set(now), Import.lease_until.remove()]
        else:
            actions.append(Import.lease_until.set(self.lease_until()))
        try:
            self.meta.update(actions=actions, condition=Import.lease_owner == self.owner)
        except UpdateError as error:
            if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
                raise _LeaseLost from error
            raise
        self.tally = _Tally()

    def lease_until(self) -> datetime:
        return clock.now() + timedelta(milliseconds=max(self.remaining_ms(), 0)) + LEASE_MARGIN


def _clean_cell(name: str, cell: str) -> Any:
    if name == "phone":
        return rules.phone(cell)
    if name in ("first_name", "last_name"):
        return rules.text(cell, name, rules.MAX_NAME)
    if name == "company":
        return rules.text(cell, name, rules.MAX_COMPANY)
    if name == "segment":
        return rules.segment(cell, default=None)
    if name == "language":
        return rules.language(cell)
    if name == "account_owner":
        return rules.account_owner(cell)
    if name == "weight":
        return float(rules.weight(cell))
    raise FieldProblem("unknown_field", name)


def _differs(stored: Any, value: Any) -> bool:
    if isinstance(value, float) or isinstance(stored, Decimal | int | float):
        return stored is None or Decimal(str(stored)) != Decimal(str(value))
    return bool(stored != value)


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _claim(meta: Import, owner: str, size: int | None, etag: str | None, remaining_ms: Callable[[], int]) -> bool:
    """Take the import (waiting, or running under a lease that ran out); False if another run has it."""
    now = clock.now()
    actions: list[Any] = [
        Import.status.set("running"),
        Import.lease_owner.set(owner),
        Import.lease_until.set(now + timedelta(milliseconds=max(remaining_ms(), 0)) + LEASE_MARGIN),
        Import.started_at.set(Import.started_at | now),
        Import.runs.add(1),
        Import.updated_at.set(now),
    ]
    if size is not None:
        actions.append(Import.size.set(size))
    if etag:
        actions.append(Import.etag.set(etag))
    condition = (Import.status == "waiting") | ((Import.status == "running") & (Import.lease_until < now))
    try:
        meta.update(actions=actions, condition=condition)
    except UpdateError as error:
        if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _finish_failed(meta: Import, owner: str, code: str, params: Mapping[str, str] | None = None) -> None:
    now = clock.now()
    meta.update(
        actions=[
            Import.status.set("failed"),
            Import.error.set(code),
            Import.error_params.set(dict(params or {})),
            Import.finished_at.set(now),
            Import.updated_at.set(now),
            Import.lease_until.remove(),
        ],
        condition=Import.lease_owner == owner,
    )
    metrics.add_metric(name="imports.failed", unit=MetricUnit.Count, value=1)
    logger.info("import failed", extra={"import_id": meta.import_id, "reason": code})


def _release(meta: Import, owner: str) -> None:
    """Let the next run take over at once (best effort)."""
    try:
        meta.update(actions=[Import.lease_until.set(clock.now())], condition=Import.lease_owner == owner)
    except (UpdateError, BotoCoreError, ClientError):
        logger.warning("could not release the import's lease", extra={"import_id": meta.import_id})


def _object_chunks(bucket: str, key: str) -> Iterator[bytes]:
    body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    try:
        yield from body.iter_chunks(chunk_size=CHUNK_BYTES)
    finally:
        body.close()


def run_import(
    bucket: str,
    key: str,
    *,
    run_id: str | None = None,
    size: int | None = None,
    etag: str | None = None,
    remaining_ms: Callable[[], int] = lambda: 900_000,
    chunks: Callable[[str, str], Iterable[bytes]] = _object_chunks,
) -> str:
    """Import the uploaded object `key`; returns what happened (`done`, `failed`, `skipped`, ...).

    Idempotent: a notification for an import that another run holds, or that is over, does nothing.
    """
    run_id = run_id or new_id()
    import_id = import_id_of(key)
    if import_id is None:
        logger.warning("an object outside imports/<id>.csv was ignored")
        return "ignored"
    try:
        meta = Import.get(import_id, META, consistent_read=True)
    except DoesNotExist:
        logger.warning("an upload with no import was ignored", extra={"import_id": import_id})
        return "ignored"
    if meta.status in ("done", "failed"):
        logger.info("import already over: notification ignored", extra={"import_id": import_id})
        return "skipped"
    if not _claim(meta, run_id, size, etag, remaining_ms):
        logger.info("import held by another run: notification ignored", extra={"import_id": import_id})
        return "skipped"
    meta.refresh(consistent_read=True)
    logger.info("import running", extra={"import_id": import_id, "resume_line": int(meta.resume_line or 0)})
    run = _Run(meta, run_id, remaining_ms)
    try:
        outcome = _read_and_import(run, chunks(bucket, key))
    except _LeaseLost:
        logger.warning("import taken over by another run", extra={"import_id": import_id})
        return "taken_over"
    except ImportPaused:
        _release(meta, run_id)
        raise
    except FileProblem as problem:
        _finish_failed(meta, run_id, problem.code, problem.params)
        return "failed"
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "AccessDenied"):
            _finish_failed(meta, run_id, "unreadable")
            return "failed"
        _give_up_or_release(meta, run_id)
        raise
    except Exception:
        _give_up_or_release(meta, run_id)
        raise
    return outcome


def _give_up_or_release(meta: Import, owner: str) -> None:
    if int(meta.runs or 0) >= MAX_RUNS:
        try:
            _finish_failed(meta, owner, "interrupted")
        except (UpdateError, BotoCoreError, ClientError):
            logger.exception("could not mark the import failed", extra={"import_id": meta.import_id})
    else:
        _release(meta, owner)


def _read_and_import(run: _Run, chunks: Iterable[bytes]) -> str:
    meta = run.meta
    csv_file = ContactsCsv(chunks)
    run.header, run.columns = csv_file.header, csv_file.columns
    if meta.encoding is None:
        ordered = sorted(csv_file.columns, key=lambda name: csv_file.columns[name])
        meta.update(
            actions=[
                Import.encoding.set(csv_file.encoding),
                Import.delimiter.set(csv_file.delimiter),
                Import.columns.set(ordered),
                Import.ignored_columns.set(csv_file.ignored or None),
            ],
            condition=Import.lease_owner == run.owner,
        )
    resume_line = int(meta.resume_line or 0)
    total_rows = int(meta.rows or 0)
    last_line = resume_line
    for batch in _batches(csv_file, BATCH_ROWS):
        candidates = []
        for record in batch:
            if record.line <= resume_line:
                run.check_seen_only(record)
                continue
            run.tally.add("rows")
            total_rows += 1
            candidate = run.check(record)
            if candidate is not None:
                candidates.append(candidate)
            last_line = record.line
        if candidates:
            run.process(candidates)
        if last_line > resume_line:
            run.checkpoint(last_line, csv_file.bytes_read)
            resume_line = last_line
        if run.remaining_ms() < STOP_WHEN_LEFT_MS:
            logger.warning("import paused before the timeout", extra={"import_id": meta.import_id})
            raise ImportPaused
    if total_rows == 0:
        raise FileProblem("no_rows")
    run.checkpoint(last_line, csv_file.bytes_read, finished=True)
    meta.refresh()
    counts = {name: int(getattr(meta, name) or 0) for name in IMPORT_COUNTS}
    for name, value in counts.items():
        metrics.add_metric(name=f"imports.{name}", unit=MetricUnit.Count, value=value)
    logger.info("import done", extra={"import_id": meta.import_id, "counts": counts})
    return "done"
