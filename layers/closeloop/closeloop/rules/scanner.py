"""Mail scanners and people: the user-agent classes, a click's signals, and which click (if any)
becomes an unconfirmed response. Pure. docs/capture.md "Scanners and unconfirmed responses".

Email security gateways fetch every link of a message seconds after delivery, run its JavaScript
and submit auto-submitting forms; a GET therefore records nothing but the click, and a click that
is never confirmed by the page's Send button is judged later, from every click of its invitation:

- a click has signals: `head` (a HEAD request: a browser never sends one for a link), `trap` (the
  hidden link no person sees), `scanner_agent` (a known scanner's user agent, or none at all),
  `early` (within `early_click_seconds` of delivery, or of the send while delivery is unknown);
- clicks less than `burst_window_seconds` apart form a burst (one after the other: a chain);
- a burst with two different scores, or holding a click with a signal, is a scanner burst;
- the candidate is the latest survey GET click outside every scanner burst.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

BROWSER, SCANNER, NONE = "browser", "scanner", "none"
UA_CLASSES = (BROWSER, SCANNER, NONE)
HEAD, TRAP, SCANNER_AGENT, EARLY = "head", "trap", "scanner_agent", "early"
SIGNALS = (HEAD, TRAP, SCANNER_AGENT, EARLY)
SURVEY_KIND, TRAP_KIND = "survey", "trap"

SCANNER_AGENTS: tuple[tuple[str, str], ...] = (
    # (who, a regular expression found in their user agent, case-insensitive)
    ("Microsoft Safe Links / Defender for Office 365", r"safelinks|safe ?links|defender|microsoft office protection"),
    ("Microsoft Exchange Online Protection", r"exchange online protection|\beop\b|ms-office-protection"),
    ("Microsoft link preview and scanning fetchers", r"bingpreview|skypeuripreview|microsoftpreview"),
    ("Mimecast", r"mimecast"),
    ("Proofpoint / URL Defense", r"proofpoint|urldefense|ppops"),
    ("Barracuda", r"barracuda"),
    ("Cisco IronPort / Secure Email", r"ironport|cisco[ -]?(secure|esa)"),
    ("Symantec / Broadcom", r"symantec|broadcom|messagelabs|\bbluecoat"),
    ("Trend Micro", r"trend ?micro|\btmufe\b|\bimhss\b"),
    ("Sophos", r"sophos"),
    ("FireEye / Trellix", r"fireeye|trellix|\bmandiant"),
    ("Fortinet", r"fortinet|fortiguard|fortimail"),
    ("Zscaler", r"zscaler"),
    ("Google Safe Browsing and link fetchers", r"google-safety|googlesafebrowsing|google-read-aloud|feedfetcher"),
    ("Headless browsers", r"headlesschrome|phantomjs|\bheadless\b|puppeteer|playwright|selenium"),
    ("Crawlers and link checkers", r"\bbot\b|[a-z]bot/|crawler|spider|linkcheck|preview|scan(ner)?\b|virustotal"),
    (
        "HTTP libraries",
        (
            r"^curl/|\bwget/|python-requests|python-urllib|python-httpx|aiohttp|go-http-client|\bjava/"
            r"|okhttp|apache-httpclient|libwww-perl|node-fetch|axios/|\bhttpclient\b|powershell"
        ),
    ),
)
"""Known security scanners and other non-human fetchers, by their user agent. Keep it current: a
gateway missing here is still caught by its burst, its timing, its HEAD or the trap link."""

_SCANNER_AGENT = re.compile("|".join(f"(?:{pattern})" for _who, pattern in SCANNER_AGENTS), re.IGNORECASE)
_BROWSER_AGENT = re.compile(r"^mozilla/\d|^opera/\d", re.IGNORECASE)


class ScannerSettings(Protocol):
    """The settings the rules read (closeloop.settings.Settings has them)."""

    @property
    def burst_window_seconds(self) -> int: ...

    @property
    def early_click_seconds(self) -> int: ...


def ua_class(user_agent: str | None) -> str:
    """`scanner` for a known scanner or an HTTP library, `none` when there is no user agent at
    all, `browser` for what looks like a browser; anything else unknown counts as a scanner."""
    agent = (user_agent or "").strip()
    if not agent:
        return NONE
    if _SCANNER_AGENT.search(agent):
        return SCANNER
    if _BROWSER_AGENT.search(agent):
        return BROWSER
    return SCANNER


def is_early(since_delivery_s: float | None, since_send_s: float | None, settings: ScannerSettings) -> bool:
    """Within `early_click_seconds` of delivery, or of the send when delivery is not known yet.

    A click before the delivery was recorded (a negative delay) is early too. With neither time
    known the click cannot be judged on time, and its other signals decide.
    """
    since = since_delivery_s if since_delivery_s is not None else since_send_s
    return since is not None and since < settings.early_click_seconds


def signals_of(  # noqa: PLR0917 - the interface capture calls, positional
    method: str,
    kind: str,
    ua_class: str,
    since_delivery_s: float | None,
    since_send_s: float | None,
    settings: ScannerSettings,
) -> set[str]:
    """What makes this one click look like a scanner's (empty: nothing)."""
    signals: set[str] = set()
    if method.upper() == "HEAD":
        signals.add(HEAD)
    if kind == TRAP_KIND:
        signals.add(TRAP)
    if ua_class != BROWSER:
        signals.add(SCANNER_AGENT)
    if is_early(since_delivery_s, since_send_s, settings):
        signals.add(EARLY)
    return signals


@dataclass(frozen=True)
class ClickSeen:
    """What the promotion reads of one stored click."""

    clicked_at: datetime
    kind: str  # survey, trap
    score: int | None
    method: str  # GET, HEAD
    signals: frozenset[str] = frozenset()
    key: str = ""  # the click's range key, to clear it once decided

    def with_early(
        self, delivered_at: datetime | None, sent_at: datetime | None, settings: ScannerSettings
    ) -> ClickSeen:
        """The click with `early` added when it came within the window of what is known now (a
        delivery learnt after the click is judged from too)."""
        since_delivery = (self.clicked_at - delivered_at).total_seconds() if delivered_at else None
        since_send = (self.clicked_at - sent_at).total_seconds() if sent_at else None
        if EARLY in self.signals or not is_early(since_delivery, since_send, settings):
            return self
        return ClickSeen(self.clicked_at, self.kind, self.score, self.method, self.signals | {EARLY}, self.key)


@dataclass(frozen=True)
class Burst:
    clicks: tuple[ClickSeen, ...]

    @property
    def scores(self) -> set[int]:
        return {c.score for c in self.clicks if c.kind == SURVEY_KIND and c.score is not None}

    @property
    def signals(self) -> set[str]:
        return set().union(*(c.signals for c in self.clicks))

    @property
    def is_scanner(self) -> bool:
        return len(self.scores) > 1 or bool(self.signals)


@dataclass(frozen=True)
class PromotionDecision:
    """Which click becomes the unconfirmed response (None: none), and the bursts judged scanners'."""

    candidate: ClickSeen | None
    bursts: tuple[Burst, ...] = field(default=())

    @property
    def scanner_clicks(self) -> int:
        return sum(len(burst.clicks) for burst in self.bursts if burst.is_scanner)


def bursts_of(clicks: Iterable[ClickSeen], settings: ScannerSettings) -> list[Burst]:
    """The clicks in time order, cut wherever two follow each other by more than the window."""
    ordered = sorted(clicks, key=lambda c: (c.clicked_at, c.key))
    bursts: list[list[ClickSeen]] = []
    for click in ordered:
        if bursts and (click.clicked_at - bursts[-1][-1].clicked_at).total_seconds() <= settings.burst_window_seconds:
            bursts[-1].append(click)
        else:
            bursts.append([click])
    return [Burst(tuple(burst)) for burst in bursts]


def promotion_candidate(
    clicks: Sequence[ClickSeen],
    settings: ScannerSettings,
    *,
    delivered_at: datetime | None = None,
    sent_at: datetime | None = None,
) -> PromotionDecision:
    """Decide from every click of one invitation which one (if any) a person made and left
    unconfirmed: the latest survey GET click outside scanner bursts."""
    judged = [click.with_early(delivered_at, sent_at, settings) for click in clicks]
    bursts = tuple(bursts_of(judged, settings))
    candidates = [
        click
        for burst in bursts
        if not burst.is_scanner
        for click in burst.clicks
        if click.kind == SURVEY_KIND and click.method.upper() == "GET" and click.score is not None
    ]
    return PromotionDecision(candidates[-1] if candidates else None, bursts)
