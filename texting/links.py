"""Per-recipient short links and click tracking (Compose item 3).

Design (docs/architecture.md, "links"):

- At commit, every long `http(s)://` URL in the final body is registered once per
  campaign as a `CampaignLink` (campaign, url, position). URLs already on our
  `SHORT_LINK_DOMAIN`, and URLs holding a merge field (`{`), are left as they are.
- Each recipient's short link is `<scheme>://<SHORT_LINK_DOMAIN>/s/<code>`, where the
  19-character base62 code is the link id (5), the contact id (6) and 8 characters of
  HMAC-SHA256(key, "<link id>:<contact id>") (key derived from SECRET_KEY). No row per
  recipient: the redirect recomputes the tag (unguessable: ~47 bits), reads the link by
  primary key and appends one `link_click` history event.
- The codes are written into the message bodies by the commit's one INSERT (`body_sql`:
  the HMAC built from PostgreSQL's sha256(), the key XOR ipad/opad passed as
  parameters), so each message row holds the text as sent, and the dispatcher sends
  `message.body` unchanged. `code_for` is the Python twin; a test holds them equal.
- A code has a fixed length, so the segment count is known before any code exists:
  the Tech Check and the commit count `as_sent(body)` (each URL replaced by a link of
  the same length), never the long URL.
- Changing SECRET_KEY breaks links already sent. Limits: 62^5 links and 62^6 contacts.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from contacts.models import EngagementEvent, EventType
from contacts.services import engagement_record_many

from .models import Campaign, CampaignLink

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LINK_WIDTH, CONTACT_WIDTH, TAG_WIDTH = 5, 6, 8
CODE_LENGTH = LINK_WIDTH + CONTACT_WIDTH + TAG_WIDTH
_TAG_MOD = 62**TAG_WIDTH
# http(s) URLs up to whitespace or a quote/bracket; trailing sentence punctuation is not
# part of the link ("Vote at https://x.org/polls."); a URL with a merge field in it
# ("https://x.org/?id={{id}}") is left alone.
_URL = re.compile(r"https?://[^\s<>\"'{}]+[^\s<>\"'{}.,;:!?)\]](?!\S*\{)", re.IGNORECASE)
_CODE = re.compile(rf"^[0-9A-Za-z]{{{CODE_LENGTH}}}$")


def _scheme() -> str:
    host = settings.SHORT_LINK_DOMAIN.split(":")[0]
    return "http" if host in ("localhost", "127.0.0.1", "[::1]") else "https"


def short_link_base() -> str:
    """`https://<SHORT_LINK_DOMAIN>/s/` (http for a local development host)."""
    return f"{_scheme()}://{settings.SHORT_LINK_DOMAIN}/s/"


def _key() -> bytes:
    return hashlib.sha256(b"texting.links:" + settings.SECRET_KEY.encode()).digest()


def _b62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(ALPHABET[r])
    return "".join(reversed(out))


def _tag(link_id: int, contact_id: int) -> str:
    digest = hmac.new(_key(), f"{link_id}:{contact_id}".encode(), hashlib.sha256).digest()
    return _b62(int.from_bytes(digest[:6], "big") % _TAG_MOD, TAG_WIDTH)


def code_for(*, link_id: int, contact_id: int) -> str:
    return _b62(link_id, LINK_WIDTH) + _b62(contact_id, CONTACT_WIDTH) + _tag(link_id, contact_id)


def short_url(*, link_id: int, contact_id: int) -> str:
    return short_link_base() + code_for(link_id=link_id, contact_id=contact_id)


def code_parse(code: str) -> tuple[int, int] | None:
    """(link id, contact id) for a genuine code; None for anything forged or mangled."""
    if not _CODE.match(code):
        return None
    link_id = _b62_decode(code[:LINK_WIDTH])
    contact_id = _b62_decode(code[LINK_WIDTH : LINK_WIDTH + CONTACT_WIDTH])
    if not hmac.compare_digest(code[LINK_WIDTH + CONTACT_WIDTH :], _tag(link_id, contact_id)):
        return None
    return link_id, contact_id


def _b62_decode(text: str) -> int:
    n = 0
    for ch in text:
        n = n * 62 + ALPHABET.index(ch)
    return n


def find_links(body: str) -> list[str]:
    """The long URLs to shorten, in order of first appearance, each once."""
    own = f"://{settings.SHORT_LINK_DOMAIN}/".lower()
    found = [m.group(0) for m in _URL.finditer(body)]
    return list(dict.fromkeys(u for u in found if own not in u.lower()))


def as_sent(body: str) -> str:
    """The body with each long URL replaced by a short link of the real length: what
    segment counts are computed on."""
    links = find_links(body)
    if not links:
        return body
    sample = short_link_base() + "x" * CODE_LENGTH
    return _URL.sub(lambda m: sample if m.group(0) in links else m.group(0), body)


# No registered link has id 0 (ids start at 1): a preview's code has the real length
# and the recipient's real contact part, and leads nowhere (the redirect finds no link).
PREVIEW_LINK_ID = 0


def with_preview_links(text: str, *, urls: list[str], contact_id: int) -> str:
    """`text` (one recipient's rendering) with each of the campaign's long `urls`
    (`find_links` of the final body, as the commit registers them) replaced as the
    commit replaces it (longest first), by a short link of the length the recipient
    will get. The code itself is made per recipient at commit; this one is a
    placeholder (`PREVIEW_LINK_ID`)."""
    short = short_url(link_id=PREVIEW_LINK_ID, contact_id=contact_id)
    for url in sorted(urls, key=len, reverse=True):
        text = text.replace(url, short)
    return text


def campaign_links_register(*, campaign: Campaign, body: str) -> list[CampaignLink]:
    """The campaign's links for this body, created once (a retried commit reuses them).
    Called by the commit inside its transaction."""
    links = []
    for position, url in enumerate(find_links(body)):
        link, _ = CampaignLink.objects.get_or_create(
            campaign=campaign, url=url, defaults={"account": campaign.account, "position": position}
        )
        links.append(link)
    return links


def shorten_sql(
    expr: str, *, links: list[CampaignLink], contact: str = "c.id"
) -> tuple[str, str, dict]:
    """(`expr` with each link's URL replaced by the recipient's short link, the LATERAL
    join it needs, params) for the commit's INSERT; `expr` is the body column (a
    parameter, or the merge-rendered body). Longer URLs are replaced first, so a URL
    that is the start of another never cuts into it.

    The LATERAL (`OFFSET 0` keeps PostgreSQL from inlining it, which would compute the
    hash once per digit) computes each link's HMAC tag once per row; the base62 digits
    are integer arithmetic. ~0.4 s per link per 100k recipients."""
    key = _key().ljust(64, b"\0")
    params: dict = {
        "link_ikey": bytes(b ^ 0x36 for b in key),
        "link_okey": bytes(b ^ 0x5C for b in key),
        "link_base": short_link_base(),
    }
    tags: list[str] = []
    for i, link in sorted(enumerate(links), key=lambda pair: -len(pair[1].url)):
        params[f"link{i}"] = link.pk
        params[f"link_url{i}"] = link.url
        tags.append(
            "('x' || encode(substr(sha256(%(link_okey)s::bytea || sha256(%(link_ikey)s::bytea"
            f" || convert_to(%(link{i})s::text || ':' || {contact}::text, 'UTF8'))), 1, 6),"
            f" 'hex'))::bit(48)::bigint %% {_TAG_MOD} AS t{i}"
        )
        short = " || ".join(
            [
                "%(link_base)s",
                _b62_sql(f"%(link{i})s::bigint", LINK_WIDTH),
                _b62_sql(contact, CONTACT_WIDTH),
                _b62_sql(f"sl.t{i}", TAG_WIDTH),
            ]
        )
        expr = f"replace({expr}, %(link_url{i})s, {short})"
    lateral = f"\nCROSS JOIN LATERAL (SELECT {', '.join(tags)} OFFSET 0) sl"
    return expr, lateral, params


def _b62_sql(expr: str, width: int) -> str:
    return " || ".join(
        f"substr('{ALPHABET}', (({expr}) / {62 ** (width - 1 - i)} %% 62)::integer + 1, 1)"
        for i in range(width)
    )


# --- Clicks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Click:
    url: str
    campaign_id: int
    contact_id: int


def link_resolve(*, code: str) -> Click | None:
    """Where a short code leads, writing nothing (a HEAD request, a link-preview bot).
    None for an unknown or forged code. One statement: the link by primary key."""
    parsed = code_parse(code)
    if parsed is None:
        return None
    link_id, contact_id = parsed
    link = CampaignLink.objects.filter(pk=link_id).values_list("url", "campaign_id").first()
    if link is None:
        return None
    url, campaign_id = link
    return Click(url=url, campaign_id=campaign_id, contact_id=contact_id)


def link_click_record(*, code: str) -> Click | None:
    """Resolve a short code and append a `link_click` event to the recipient's history.
    None for an unknown or forged code. Two statements: the link by primary key, the
    event INSERT."""
    parsed = code_parse(code)
    if parsed is None:
        return None
    link_id, contact_id = parsed
    link = (
        CampaignLink.objects.filter(pk=link_id)
        .values_list("url", "campaign_id", "account_id")
        .first()
    )
    if link is None:
        return None
    url, campaign_id, account_id = link
    event = EngagementEvent(
        account_id=account_id,
        contact_id=contact_id,
        type=EventType.LINK_CLICK,
        campaign_id=campaign_id,
        at=timezone.now(),
        data={"url": url, "link_id": link_id},
    )
    try:
        with transaction.atomic():
            engagement_record_many([event])
    except IntegrityError:  # the contact was deleted since: still take them there
        pass
    return Click(url=url, campaign_id=campaign_id, contact_id=contact_id)


# Link-preview fetchers that announce themselves (messaging apps unfurling a link as it
# arrives): they follow the redirect but are not the recipient clicking.
_PREVIEW_AGENT = re.compile(
    r"facebookexternalhit|Facebot|Twitterbot|Slackbot|WhatsApp|TelegramBot|Discordbot"
    r"|SkypeUriPreview|LinkedInBot|Googlebot|bingbot|Applebot",
    re.IGNORECASE,
)


def is_click(*, method: str, user_agent: str) -> bool:
    """Whether a request for a short link is a person's click. HEAD (link checkers,
    some phones probing a link before showing it) and the preview fetchers above are
    redirected like anyone but counted nowhere."""
    return method != "HEAD" and not _PREVIEW_AGENT.search(user_agent or "")


@dataclass(frozen=True)
class LinkStats:
    url: str
    clicks: int
    recipients: int


def campaign_link_clicks(*, campaign: Campaign) -> list[LinkStats]:
    """Clicks and distinct recipients per link of the campaign (one GROUP BY over its
    `link_click` events, index `event_campaign_type`)."""
    rows = (
        EngagementEvent.objects.filter(campaign_id=campaign.pk, type=EventType.LINK_CLICK)
        .values("data__link_id")
        .annotate(clicks=Count("id"), recipients=Count("contact_id", distinct=True))
        .order_by()
    )
    counts = {r["data__link_id"]: r for r in rows}
    return [
        LinkStats(
            url=link.url,
            clicks=counts.get(link.pk, {}).get("clicks", 0),
            recipients=counts.get(link.pk, {}).get("recipients", 0),
        )
        for link in CampaignLink.objects.filter(campaign=campaign)
    ]


def campaign_click_totals(*, campaign: Campaign) -> dict[str, int]:
    """{"clicks", "recipients"}: every click, and how many recipients clicked at all."""
    return EngagementEvent.objects.filter(
        campaign_id=campaign.pk, type=EventType.LINK_CLICK
    ).aggregate(clicks=Count("id"), recipients=Count("contact_id", distinct=True))


def recipient_link_clicks(*, campaign: Campaign) -> dict[int, int]:
    """{contact id: clicks} for the campaign's recipients who clicked."""
    rows = (
        EngagementEvent.objects.filter(campaign_id=campaign.pk, type=EventType.LINK_CLICK)
        .values("contact_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {r["contact_id"]: r["n"] for r in rows}
