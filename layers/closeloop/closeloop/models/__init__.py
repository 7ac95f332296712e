"""The PynamoDB models, one per table (docs/data-model.md)."""

from closeloop.models.base import BaseModel, registered_models, reset_connections
from closeloop.models.case import Attempt, Case, Taxonomy
from closeloop.models.contact import Contact, ContactEmail
from closeloop.models.imports import Import, ImportRow
from closeloop.models.invitation import Invitation, invitation_id_for
from closeloop.models.message import Message, Quarantine
from closeloop.models.reply_token import ReplyToken
from closeloop.models.response import CATEGORIES, Click, Response
from closeloop.models.send_batch import SendBatch
from closeloop.models.staff import GROUPS, Staff
from closeloop.models.stats import Stat
from closeloop.models.suppression import Suppression
from closeloop.models.wave import Wave

__all__ = [
    "CATEGORIES",
    "GROUPS",
    "Attempt",
    "BaseModel",
    "Case",
    "Click",
    "Contact",
    "ContactEmail",
    "Import",
    "ImportRow",
    "Invitation",
    "Message",
    "Quarantine",
    "ReplyToken",
    "Response",
    "SendBatch",
    "Staff",
    "Stat",
    "Suppression",
    "Taxonomy",
    "Wave",
    "invitation_id_for",
    "registered_models",
    "reset_connections",
]
