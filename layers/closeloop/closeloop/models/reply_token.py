"""Reply tokens (docs/data-model.md 4.10, 6.2): the hash of a reply+ address token -> its invitation or case."""

from __future__ import annotations

from pynamodb.attributes import TTLAttribute, UnicodeAttribute

from closeloop.models.base import BaseModel, TableName


class ReplyToken(BaseModel):
    """Only the SHA-256 of the token is stored: the table alone cannot be used to forge an address."""

    class Meta:
        table_name = TableName("reply_tokens_table")

    token_hash = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()  # invitation, case
    object_id = UnicodeAttribute()  # invitation_id or case_id (the same 26-character id)
    step = UnicodeAttribute(null=True)  # first, reminder, fallback, close_loop
    expires_at = TTLAttribute(null=True)  # created + REPLY_TOKEN_DAYS; readers check it (TTL lags)
