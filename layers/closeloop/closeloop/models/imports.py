"""Imports: a CSV upload, its progress and its report (docs/data-model.md 4.9).

One table, two kinds of item under an import_id: the `meta` item (status, counts, the lease of
the function running it) and one `row#<line, 8 digits>` item per rejected row. The report holds
no cell values, only the masked email of a rejected row: the person who uploaded has the file.
"""

from __future__ import annotations

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from closeloop.models.base import BaseModel, TableName

IMPORT_STATUSES = ("waiting", "running", "done", "failed")
IMPORT_COUNTS = ("rows", "created", "updated", "unchanged", "rejected", "suppressed")
META = "meta"


def row_key(line: int) -> str:
    """The sort key of a rejected row: its line, zero-padded so that rows sort by line."""
    return f"row#{line:08d}"


class ByKind(GlobalSecondaryIndex["Import"]):
    """Imports of a kind, newest first: a sparse index, as only meta items have a kind."""

    class Meta:
        index_name = "by_kind"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    import_id = UnicodeAttribute(range_key=True)


class Import(BaseModel):
    """The meta item of an import."""

    class Meta:
        table_name = TableName("imports_table")

    import_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=META)
    kind = UnicodeAttribute(default="contacts")
    status = UnicodeAttribute(default="waiting")
    s3_key = UnicodeAttribute()
    uploaded_by = UnicodeAttribute(null=True)  # staff email
    size = NumberAttribute(null=True)  # bytes, from the S3 notification
    bytes_read = NumberAttribute(default=0)
    etag = UnicodeAttribute(null=True)
    encoding = UnicodeAttribute(null=True)
    delimiter = UnicodeAttribute(null=True)
    columns = ListAttribute(of=UnicodeAttribute, null=True)  # fields found, in file order
    ignored_columns = ListAttribute(of=UnicodeAttribute, null=True)  # header names not understood
    rows = NumberAttribute(default=0)
    created = NumberAttribute(default=0)
    updated = NumberAttribute(default=0)
    unchanged = NumberAttribute(default=0)
    rejected = NumberAttribute(default=0)
    suppressed = NumberAttribute(default=0)
    resume_line = NumberAttribute(default=0)  # every record up to this line is done
    runs = NumberAttribute(default=0)  # runs that claimed it (Lambda runs an event 3 times at most)
    lease_owner = UnicodeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)
    started_at = UTCDateTimeAttribute(null=True)
    finished_at = UTCDateTimeAttribute(null=True)
    error = UnicodeAttribute(null=True)  # code of a problem of the whole file
    error_params = MapAttribute[str, object](null=True)
    expires_at = TTLAttribute(null=True)

    by_kind = ByKind()


class ImportRow(BaseModel):
    """A rejected row of an import: where, which column, why."""

    class Meta:
        table_name = TableName("imports_table")

    import_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    line = NumberAttribute()
    reason = UnicodeAttribute()  # code of the first problem (closeloop.rules)
    # every problem of the row: {"reason", "field", "column" (as the file names it), "params"}
    problems = ListAttribute(null=True)  # type: ignore[var-annotated]
    email_masked = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)
