"""The Tech Check: everything a campaign must pass before it may be sent or scheduled.

`campaign_tech_check(campaign=...)` reads only (nothing is created or changed). The
Tech Check tab and `GET /api/v1/campaigns/{id}/tech-check/` show it, and
`texting.commit.campaign_commit` runs it again inside its transaction, on the locked
campaign row, and refuses with `PreflightError` (the commit API's 422) when a check
fails. A scheduled campaign passed it at commit; its start later
(`texting.dispatch.start_due_campaigns`) only moves the status, and every message still
meets the per-message final check right before it goes.

The checks are small functions over one set of facts read once (`_Facts`): `CHECKS`
gate the send, `WARNINGS` only inform (risky words, who is left out and why, UCS-2,
quiet hours now and unknown time zones from `texting.audience.campaign_send_window`).
A new rule is one function added to one of the two lists.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from compliance import content, eligibility
from contacts.models import ContactImport, ImportStatus
from phone_numbers.models import NumberKind, NumberStatus, PhoneNumber, RegistrationStatus
from providers.encoding import MAX_PARTS, Segmentation

from .audience import (
    AuditResult,
    campaign_audit,
    campaign_exclusions,
    campaign_send_window,
    resolve_audience,
)
from .compose import final_template, message_size
from .links import find_links, with_preview_links
from .merge import Template, render
from .models import Campaign, CampaignMode, Media
from .pricing import mms_price, segment_price
from .services import CampaignError

SAMPLE_SIZE = 3
# A sender may carry traffic once its 10DLC campaign is approved (RegistrationStatus).
REGISTERED = frozenset({RegistrationStatus.CAMPAIGN_APPROVED, RegistrationStatus.ACTIVE})
REASON_LABELS = {
    eligibility.OPTED_OUT: "opted out",
    eligibility.DNC: "on the do-not-contact list",
    eligibility.NO_OPT_IN: "no opt-in on record",
    eligibility.INVALID_PHONE: "invalid phone",
    eligibility.DUPLICATE: "listed twice",
    eligibility.EXCLUDED_TRIBE: "in an excluded Tribe",
    eligibility.REPLIED_TO_CAMPAIGN: "replied to an excluded campaign",
    eligibility.RECENTLY_MESSAGED: "messaged recently",
    eligibility.FREQUENCY_CAP: "over the frequency cap",
}


CHECK_LABELS = {
    "body": "Message",
    "media": "Attachments",
    "stop_language": "Opt-out language and keywords",
    "segments": "Length",
    "encoding": "Encoding",
    "audience": "Eligible recipients",
    "senders": "Sender numbers",
    "balance": "Cost and balance",
    "content": "Carrier content rules",
    "mode": "Consent (campaign mode)",
}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str
    remediation: str = ""  # what to do about it; only when the check fails

    @property
    def label(self) -> str:
        return CHECK_LABELS.get(self.name, self.name.replace("_", " ").capitalize())

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "ok": self.ok,
            "message": self.message,
            "remediation": self.remediation,
        }


@dataclass(frozen=True)
class SenderStanding:
    """One sender of the campaign and whether it may carry the send."""

    number: PhoneNumber
    problem: str  # "" when the sender is usable

    @property
    def ok(self) -> bool:
        return not self.problem


@dataclass(frozen=True)
class Sample:
    recipient: str  # a name or the phone, for the bubble's caption
    text: str


@dataclass
class TechCheck:
    checks: list[Check]
    segments: int
    encoding: str
    characters: int
    final_body: str
    samples: list[Sample]
    estimated_cost: Decimal
    balance: Decimal
    estimated_duration_seconds: int | None
    warnings: list[str]
    audit: AuditResult | None
    senders: list[SenderStanding]
    messages_per_second: float

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def as_dict(self) -> dict:
        """The API's shape (API.md "Campaigns", tech-check)."""
        return {
            "ok": self.ok,
            "checks": [check.as_dict() for check in self.checks],
            "segments": self.segments,
            "encoding": self.encoding,
            "characters": self.characters,
            "final_body": self.final_body,
            "samples": [sample.text for sample in self.samples],
            "estimated_cost": f"{self.estimated_cost:.4f}",
            "balance": f"{self.balance:.4f}",
            "estimated_duration_seconds": self.estimated_duration_seconds,
            "warnings": self.warnings,
        }


class PreflightError(CampaignError):
    """The commit re-ran the Tech Check and a check failed (422); nothing was written."""

    def __init__(self, checks: list[Check]):
        self.checks = checks
        reasons = " ".join(check.message for check in checks)
        super().__init__(f"The campaign did not pass the Tech Check. {reasons}")


@dataclass
class _Facts:
    """What the checks read, gathered once."""

    campaign: Campaign
    stop_language: str
    final_body: str
    segments: int
    encoding: str
    template: Template
    size: Segmentation  # of the longest rendering (texting.compose)
    size_basis: str
    audit: AuditResult | None
    audit_error: str
    senders: list[SenderStanding]
    price: Decimal
    estimated_cost: Decimal
    balance: Decimal
    rate: float
    duration: int | None
    findings: list[content.Result] = field(default_factory=list)
    preview: bool = True  # the tab and the API (False: the commit's pre-flight)

    @property
    def eligible(self) -> int:
        return self.audit.eligible if self.audit else 0


def _money(amount: Decimal) -> str:
    return f"${amount:,.2f}" if amount >= Decimal("0.01") or not amount else f"${amount:.4f}"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def send_duration(
    *,
    messages: int,
    segments: int,
    numbers: Sequence[PhoneNumber],
    max_mps: Decimal | None = None,
) -> tuple[float, int | None]:
    """(segments per second, seconds to send) for `messages` of `segments` each over
    these senders, the campaign's throttle (`max_mps`, campaign-wide) applied. The
    senders' MPS counts segments, as the carrier's window does. No rate: None."""
    rate = float(sum((n.mps for n in numbers), Decimal("0")))
    if max_mps:
        rate = min(rate, float(max_mps)) if rate else 0.0
    return rate, (math.ceil(messages * segments / rate) if rate else None)


def sender_problem(number: PhoneNumber) -> str:
    """Why this number may not carry a campaign ("" when it may)."""
    if number.status != NumberStatus.ACTIVE:
        return f"{number.e164} is {number.get_status_display().lower()}, not active."
    if number.registration_status == RegistrationStatus.REJECTED:
        return f"{number.e164}: its registration was rejected."
    if number.registration_status not in REGISTERED:
        standing = number.get_registration_status_display().lower()
        if number.kind == NumberKind.LONG:
            return (
                f"{number.e164} is a 10DLC long code that is not registered ({standing}); "
                "US carriers block unregistered 10DLC traffic (since Feb 1, 2025)."
            )
        return (
            f"{number.e164} ({number.get_kind_display().lower()}) is not approved for "
            f"traffic yet ({standing})."
        )
    return ""


def campaign_senders(*, campaign: Campaign) -> list[SenderStanding]:
    """The campaign's sender numbers (this account's only) and their standing."""
    numbers = PhoneNumber.objects.filter(
        account_id=campaign.account_id, pk__in=campaign.sender_ids or []
    ).order_by("e164")
    return [SenderStanding(number, sender_problem(number)) for number in numbers]


def _facts(*, campaign: Campaign, audit: AuditResult | None, preview: bool) -> _Facts:
    from .commit import final_body  # texting.commit imports this module

    account = campaign.account
    stop = (campaign.stop_language or account.stop_language).strip()
    body = final_body(campaign)
    template = final_template(campaign)
    try:
        contacts = resolve_audience(campaign=campaign, create=False).contacts
    except CampaignError:
        contacts = None
    size = message_size(template=template, contacts=contacts)
    segments, encoding = size.worst.segments, size.worst.encoding
    audit_error = ""
    if audit is None:
        try:
            audit = campaign_audit(campaign=campaign)
        except CampaignError as exc:
            audit_error = str(exc)
    senders = campaign_senders(campaign=campaign)
    usable = [s.number for s in senders if s.ok]
    # The commit spreads recipients evenly over the senders (a hash), so the mean
    # price per segment over the pool; the commit stores the exact figure.
    pool = usable or [s.number for s in senders]
    if pool:
        price = sum((segment_price(n.kind) for n in pool), Decimal("0")) / len(pool)
    else:
        price = segment_price(NumberKind.LONG)
    eligible = audit.eligible if audit else 0
    if campaign.media_ids:  # MMS: billed per message, not per segment
        price = mms_price()
        estimated = (price * eligible).quantize(Decimal("0.0001"))
    else:
        estimated = (price * eligible * segments).quantize(Decimal("0.0001"))
    rate, duration = send_duration(
        messages=eligible, segments=segments, numbers=usable, max_mps=campaign.max_mps
    )
    facts = _Facts(
        campaign=campaign,
        stop_language=stop,
        final_body=body,
        segments=segments,
        encoding=encoding,
        template=template,
        size=size.worst,
        size_basis=size.basis if template.has_fields else "",
        audit=audit,
        audit_error=audit_error,
        senders=senders,
        price=price,
        estimated_cost=estimated,
        balance=account.balance,
        rate=rate,
        duration=duration if eligible else 0,
        preview=preview,
    )
    facts.findings = content.content_check(campaign.body, political=_political(campaign))
    return facts


def _political(campaign: Campaign) -> bool:
    """Campaign mode is voter outreach; a Relationship campaign says so in its
    compliance settings (`{"political": true}` or `{"category": "political"}`)."""
    settings = campaign.compliance or {}
    return (
        campaign.mode == CampaignMode.CAMPAIGN
        or bool(settings.get("political"))
        or settings.get("category") == "political"
    )


# --- Checks: each returns one Check; any failing check blocks the send ----------------


def check_body(f: _Facts) -> Check:
    if not f.campaign.body.strip():
        return Check(
            "body",
            False,
            "The message body is empty.",
            "Write the message on the Compose tab.",
        )
    if f.template.errors:
        return Check(
            "body",
            False,
            " ".join(f.template.errors),
            "Fix the merge fields on the Compose tab.",
        )
    return Check("body", True, "The message has a body.")


def check_media(f: _Facts) -> Check:
    """Every attachment still exists: the send would otherwise go out without it."""
    wanted = list(dict.fromkeys(f.campaign.media_ids or []))
    if not wanted:
        return Check("media", True, "No attachments: an SMS.")
    found = set(
        Media.objects.filter(account=f.campaign.account, pk__in=wanted).values_list("pk", flat=True)
    )
    missing = [i for i in wanted if i not in found]
    if missing:
        return Check(
            "media",
            False,
            f"{len(missing)} of the {len(wanted)} attachments no longer exist "
            "(media is deleted 90 days after upload unless a draft or template uses it).",
            "Remove the missing attachment on the Compose tab and attach the file again.",
        )
    return Check("media", True, f"{len(wanted)} attachment{'s' if len(wanted) > 1 else ''}.")


def check_stop_language(f: _Facts) -> Check:
    if not f.stop_language or not f.final_body.endswith(f.stop_language):
        return Check(
            "stop_language",
            False,
            "No stop language is set, so recipients would not be told how to opt out.",
            "Set the stop language (for example “Reply STOP to opt out.”) in Settings.",
        )
    return Check(
        "stop_language",
        True,
        f"Every message ends with the stop language (“{f.stop_language}”). STOP and HELP "
        "replies are handled automatically (always on, for every number).",
    )


def check_segments(f: _Facts) -> Check:
    size = f"{_plural(f.segments, 'segment')} ({f.encoding}, stop language included)"
    if f.segments > MAX_PARTS:
        limit = "1,530" if f.encoding == "GSM-7" else "670"
        return Check(
            "segments",
            False,
            f"The message is {size}; carriers accept at most {MAX_PARTS}. {f.size_basis}".strip(),
            f"Shorten it to {limit} {f.encoding} characters or fewer, stop language included.",
        )
    return Check("segments", True, f"The message is {size}. {f.size_basis}".strip())


def check_encoding(f: _Facts) -> Check:
    if f.encoding == "GSM-7":
        return Check("encoding", True, "GSM-7: 160 characters per segment (153 when split).")
    return Check(
        "encoding",
        True,
        "UCS-2 (it has characters outside GSM-7): 70 characters per segment (67 when "
        "split), so it costs more segments.",
    )


def _reasons(excluded: dict[str, int]) -> str:
    parts = sorted(excluded.items(), key=lambda item: -item[1])
    return ", ".join(f"{n:,} {REASON_LABELS.get(reason, reason)}" for reason, n in parts)


def _unfinished_import(campaign: Campaign) -> ContactImport | None:
    """An import still filling the list the campaign sends to: sending now would reach
    only the rows imported so far, and a campaign is committed once."""
    tribe_id = (campaign.audience or {}).get("tribe_id")
    if not tribe_id:
        return None
    return (
        ContactImport.objects.filter(
            account=campaign.account,
            tribe_id=tribe_id,
            status__in=[ImportStatus.PENDING, ImportStatus.RUNNING],
        )
        .order_by("id")
        .first()
    )


def check_audience(f: _Facts) -> Check:
    importing = _unfinished_import(f.campaign)
    if importing is not None:
        return Check(
            "audience",
            False,
            f"The list is still importing ({importing.processed:,} of {importing.total:,} rows "
            "done): sending now would reach only the rows imported so far.",
            "Wait until the import is done (the Recipients tab shows its progress), then send.",
        )
    if f.audit is None:
        return Check(
            "audience",
            False,
            f.audit_error or "The campaign has no audience.",
            "Choose who receives it on the Recipients tab.",
        )
    if f.audit.eligible < 1:
        why = f" ({_reasons(f.audit.excluded)})" if f.audit.excluded else ""
        return Check(
            "audience",
            False,
            f"No eligible recipients: none of the {f.audit.total:,} in the audience may be "
            f"texted{why}.",
            "Choose an audience with opted-in contacts on the Recipients tab.",
        )
    return Check(
        "audience",
        True,
        f"{f.audit.eligible:,} of {f.audit.total:,} recipients are eligible.",
    )


def check_senders(f: _Facts) -> Check:
    if not f.senders:
        return Check(
            "senders",
            False,
            "No sender numbers: pick at least one active, registered sender for this campaign.",
            "Add sender numbers to the campaign.",
        )
    problems = [s.problem for s in f.senders if not s.ok]
    if problems:
        return Check(
            "senders",
            False,
            " ".join(problems),
            "Remove those numbers from the campaign's senders, or finish their registration "
            "(10DLC brand and campaign) on the Numbers page.",
        )
    duration = duration_words(f.duration)
    return Check(
        "senders",
        True,
        f"{_plural(len(f.senders), 'sender')}, all active and registered; "
        f"{f.rate:g} segments per second, about {duration} to send.",
    )


def duration_words(seconds: int | None) -> str:
    if seconds is None:
        return "an unknown time"
    if seconds < 90:
        return _plural(seconds, "second")
    if seconds < 90 * 60:
        return _plural(math.ceil(seconds / 60), "minute")
    return f"{seconds / 3600:.1f} hours"


KIND_WORDS = {
    NumberKind.LONG: "long code",
    NumberKind.TOLL_FREE: "toll-free number",
    NumberKind.SHORT: "short code",
}


def senders_words(numbers: Sequence[PhoneNumber]) -> str:
    """The senders in words: "12 long codes", or for mixed kinds "3 senders (2 long
    codes, 1 short code)"."""
    by_kind: dict[str, int] = {}
    for number in numbers:
        by_kind[number.kind] = by_kind.get(number.kind, 0) + 1
    parts = [_plural(n, KIND_WORDS.get(kind, "sender")) for kind, n in sorted(by_kind.items())]
    if len(parts) == 1:
        return parts[0]
    return f"{_plural(len(numbers), 'sender')} ({', '.join(parts)})"


def send_estimate_text(
    *, eligible: int, seconds: int | None, numbers: Sequence[PhoneNumber]
) -> str:
    """The Compose tab's estimate: "47,000 recipients: ~66 minutes across 12 long codes"."""
    if not numbers:
        return f"{_plural(eligible, 'recipient')}: no usable sender selected."
    return (
        f"{_plural(eligible, 'recipient')}: ~{duration_words(seconds)} across "
        f"{senders_words(numbers)}"
    )


def check_cost(f: _Facts) -> Check:
    what = (
        f"Estimated cost {_money(f.estimated_cost)} ({f.eligible:,} × "
        + ("MMS" if f.campaign.media_ids else _plural(f.segments, "segment"))
        + f" at {_money(f.price)}); balance {_money(f.balance)}."
    )
    if f.estimated_cost > f.balance:
        short = f.estimated_cost - f.balance
        return Check(
            "balance",
            False,
            f"Not enough funds. {what}",
            f"Add funds (at least {_money(short)} more), or send to fewer recipients.",
        )
    return Check("balance", True, what)


def check_content(f: _Facts) -> Check:
    blocked = content.blocks(f.findings)
    if blocked:
        return Check(
            "content",
            False,
            " ".join(r.message for r in blocked),
            " ".join(dict.fromkeys(r.remediation for r in blocked)),
        )
    return Check(
        "content",
        True,
        "No forbidden content (SHAFT, high-risk finance) and no public link shorteners.",
    )


def check_mode(f: _Facts) -> Check:
    left_out = f.audit.excluded.get(eligibility.NO_OPT_IN, 0) if f.audit else 0
    if f.campaign.mode == CampaignMode.CAMPAIGN:
        rule = (
            "Campaign mode: a bulk send reaches opted-in contacts only; voters without "
            "consent can be texted only one at a time, by hand."
        )
    else:
        rule = "Relationship mode: only contacts with a confirmed opt-in are texted."
    tail = f" {_plural(left_out, 'recipient')} without an opt-in are left out." if left_out else ""
    return Check("mode", True, rule + tail)


CHECKS: tuple[Callable[[_Facts], Check], ...] = (
    check_body,
    check_media,
    check_stop_language,
    check_segments,
    check_encoding,
    check_audience,
    check_senders,
    check_cost,
    check_content,
    check_mode,
)


# --- Warnings: each returns a list of sentences; none blocks the send ------------------


def warn_content(f: _Facts) -> list[str]:
    return [f"{r.message} {r.remediation}" for r in content.warnings(f.findings)]


def warn_exclusions(f: _Facts) -> list[str]:
    if not f.audit or not f.audit.excluded:
        return []
    left_out = sum(f.audit.excluded.values())
    return [
        f"{left_out:,} of {f.audit.total:,} in the audience will not be texted: "
        f"{_reasons(f.audit.excluded)}."
    ]


def warn_encoding(f: _Facts) -> list[str]:
    if f.encoding == "GSM-7":
        return []
    odd = f.size.forced_ucs2
    return [
        "These characters switch the whole message to UCS-2: "
        + " ".join(f"“{ch}”" for ch in odd[:10])
        + ". Replacing them may save segments."
    ]


def warn_quiet_hours(f: _Facts) -> list[str]:
    """Who would wait for quiet hours if sent now, and whose zone is unknown
    (`texting.audience.campaign_send_window`). A preview only: the commit shifts each
    message out of quiet hours itself, so it skips this read."""
    if not f.preview or f.audit is None or not f.audit.eligible:
        return []
    window = campaign_send_window(campaign=f.campaign)
    found = []
    if window.in_quiet_hours:
        latest = timezone.localtime(window.latest).strftime("%b %-d, %-I:%M %p %Z")
        found.append(
            f"{window.in_quiet_hours:,} of {window.eligible:,} recipients are in quiet hours "
            f"now; sent now, their messages wait until their window opens (the last at "
            f"{latest})."
        )
    if window.never:
        found.append(
            f"The account's quiet hours leave no time to text {window.never:,} recipients; "
            "widen them in Settings."
        )
    if window.unknown_timezone:
        found.append(
            f"{window.unknown_timezone:,} recipients have no known time zone; the account's "
            "zone is assumed for their quiet hours."
        )
    return found


WARNINGS: tuple[Callable[[_Facts], list[str]], ...] = (
    warn_content,
    warn_exclusions,
    warn_encoding,
    warn_quiet_hours,
)


def _samples(campaign: Campaign, template: Template, body: str) -> list[Sample]:
    """The final text for a few eligible recipients, merge fields rendered for each and
    each long URL of `body` (the final body) as that recipient's short link will look
    (`texting.links.with_preview_links`: the real length, a placeholder code)."""
    try:
        audience = resolve_audience(campaign=campaign, create=False)
    except CampaignError:
        return []
    people = (
        eligibility.eligible(audience.contacts, campaign_exclusions(campaign=campaign))
        .order_by("id")
        .only(
            "phone",
            "first_name",
            "last_name",
            "preferred_name",
            "street",
            "city",
            "state",
            "zip",
            "custom_fields",
        )[:SAMPLE_SIZE]
    )
    urls = find_links(body)
    samples = []
    for person in people:
        name = " ".join(
            part for part in (person.preferred_name or person.first_name, person.last_name) if part
        )
        text = with_preview_links(render(template, person), urls=urls, contact_id=person.pk)
        samples.append(Sample(recipient=name or person.phone, text=text))
    return samples


def campaign_tech_check(
    *, campaign: Campaign, audit: AuditResult | None = None, preview: bool = True
) -> TechCheck:
    """Run every check over the campaign as it is now. `audit`: the eligibility audit,
    when the caller has just classified the audience (the commit has); `preview`: also
    read what only a person needs to see (sample recipients, quiet-hours counts)."""
    f = _facts(campaign=campaign, audit=audit, preview=preview)
    checks = [check(f) for check in CHECKS]
    warnings = [sentence for warn in WARNINGS for sentence in warn(f)]
    return TechCheck(
        checks=checks,
        segments=f.segments,
        encoding=f.encoding,
        characters=f.size.characters,
        final_body=f.final_body,
        samples=_samples(campaign, f.template, f.final_body) if preview else [],
        estimated_cost=f.estimated_cost,
        balance=f.balance,
        estimated_duration_seconds=f.duration,
        warnings=warnings,
        audit=f.audit,
        senders=f.senders,
        messages_per_second=f.rate,
    )


def campaign_preflight(*, campaign: Campaign, audit: AuditResult | None = None) -> TechCheck:
    """The Tech Check as the commit runs it: raises PreflightError with the failed
    checks when any fails."""
    result = campaign_tech_check(campaign=campaign, audit=audit, preview=False)
    if not result.ok:
        raise PreflightError(result.failed)
    return result
