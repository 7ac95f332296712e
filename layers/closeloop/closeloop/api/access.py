"""Who may call which route: the one table of group checks, enforced for every route.

API Gateway's JWT authorizer proves that a staff member signed in; this table says which groups
each route admits. A route missing from the table is refused (fail closed), and a test holds the
table equal to template.yaml's routes and their authorizers.
"""

from __future__ import annotations

from dataclasses import dataclass

PUBLIC: frozenset[str] = frozenset()
STAFF = frozenset({"caller", "manager", "admin"})
MANAGERS = frozenset({"manager", "admin"})
ADMINS = frozenset({"admin"})

# route key (as API Gateway names it: "METHOD /path/{param}") -> groups admitted (PUBLIC: anyone)
ROUTE_ACCESS: dict[str, frozenset[str]] = {
    "GET /health": PUBLIC,
    "GET /openapi.json": PUBLIC,
    "GET /docs": PUBLIC,
    "GET /me": STAFF,
    # the staff pages: the page and its assets are public, what they show comes from the API
    "GET /staff": PUBLIC,
    "GET /staff/{section}": PUBLIC,
    "GET /staff/{section}/{item}": PUBLIC,
    "GET /staff/assets/{asset}": PUBLIC,
    # the staff directory (#6): managers read it, admins write and import it
    "GET /directory": MANAGERS,
    "GET /directory/{staff_id}": MANAGERS,
    "POST /directory": ADMINS,
    "PATCH /directory/{staff_id}": ADMINS,
    "POST /directory/imports": ADMINS,
    # F1: every staff group reads contacts; managers write them and import them
    "POST /contacts": MANAGERS,
    "GET /contacts": STAFF,
    "GET /contacts/{contact_id}": STAFF,
    "PATCH /contacts/{contact_id}": MANAGERS,
    "POST /imports": MANAGERS,
    "GET /imports": MANAGERS,
    "GET /imports/{import_id}": MANAGERS,
    # F2: every staff group reads waves and previews their email; managers plan, test and cancel them
    "POST /waves": MANAGERS,
    "GET /waves": STAFF,
    "GET /waves/{wave_id}": STAFF,
    "PATCH /waves/{wave_id}": MANAGERS,
    "POST /waves/{wave_id}/preview": STAFF,
    "POST /waves/{wave_id}/test-send": MANAGERS,
    "POST /waves/{wave_id}/cancel": MANAGERS,
    # F3: the survey email's score links and the page's Send button, for anyone holding the token
    "GET /r/{token}/{score}": PUBLIC,
    "HEAD /r/{token}/{score}": PUBLIC,
    "POST /r/{token}": PUBLIC,
    # F3: the email's unsubscribe link and the List-Unsubscribe one-click POST, for anyone holding the token
    "GET /u/{token}": PUBLIC,
    "POST /u/{token}": PUBLIC,
    "POST /u/{token}/undo": PUBLIC,
    # F6 inbound mail (#5): quarantined mail for managers; a response with its thread's mail for staff
    "GET /quarantine": MANAGERS,
    "POST /quarantine/{quarantine_id}/handled": MANAGERS,
    "GET /responses/{response_id}": STAFF,
    # F5 callbacks (#6): callers work their queue and their cases (the service checks the assignee);
    # managers list, reassign and keep the irritant taxonomy
    "GET /cases/mine": STAFF,
    "GET /cases": MANAGERS,
    "GET /cases/{case_id}": STAFF,
    "POST /cases/{case_id}/attempts": STAFF,
    "POST /cases/{case_id}/hand-back": STAFF,
    "POST /cases/{case_id}/reassign": MANAGERS,
    "GET /taxonomy": STAFF,
    "POST /taxonomy": MANAGERS,
    "PATCH /taxonomy/{tag}": MANAGERS,
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    reason_fr: str = ""

    def reason_in(self, language: str) -> str:
        return self.reason_fr if language == "fr" and self.reason_fr else self.reason


def is_public(route_key: str) -> bool:
    return ROUTE_ACCESS.get(route_key) == PUBLIC


def decide(route_key: str, groups: frozenset[str], *, authenticated: bool) -> Decision:
    """Whether a caller with these groups may use the route."""
    admitted = ROUTE_ACCESS.get(route_key)
    if admitted is None:
        return Decision(False, "this route has no access rule", "cette route n'a pas de règle d'accès")
    if admitted == PUBLIC:
        return Decision(True)
    if not authenticated:
        return Decision(False, "sign in first", "connectez-vous d'abord")
    if groups & admitted:
        return Decision(True)
    names = ", ".join(sorted(admitted))
    return Decision(
        False, f"this needs one of the groups: {names}", f"il faut appartenir à l'un de ces groupes : {names}"
    )
