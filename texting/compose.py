"""The composer's counting: the final text (body with merge fields + stop language), its
size for one recipient (preview) and the worst case across an audience (Tech Check,
commit). Read-only.

Basis of a campaign's segment count when the body has merge fields: the renderings
differ per recipient, so the audience's longest GSM-7 rendering (most septets) and its
longest UCS-2 rendering (most UTF-16 units) are found in SQL and counted exactly
(`providers.encoding.segment`); every GSM-7 message is billed at the first's count and
every UCS-2 one at the second's. That is an upper bound per message, exact for the
longest, and costs two scans of the audience, not a Python pass per
recipient. Each message's encoding is exact (a regular expression over its rendering).
"""

from dataclasses import dataclass

from django.db.models import F, Func, QuerySet, TextField, Value
from django.db.models.functions import Length

from providers.encoding import _GSM_BASIC, _GSM_EXTENDED, Segmentation, segment

from .links import as_sent
from .merge import Template, fields_expression, parse, render, sql_expression
from .models import Campaign


def _bracket(chars) -> str:
    special = set("\\]-[^")
    return "".join("\\" + ch if ch in special else ch for ch in sorted(chars))


# PostgreSQL ARE patterns (passed as parameters). Any character outside GSM-7 makes a
# message UCS-2; a grapheme of several code points always holds one such character.
NON_GSM_PATTERN = "[^" + _bracket(_GSM_BASIC | _GSM_EXTENDED) + "]"
NOT_EXTENSION_PATTERN = "[^" + _bracket(_GSM_EXTENDED) + "]"
NOT_ASTRAL_PATTERN = "[^\U00010000-\U0010ffff]"


def stop_language(campaign: Campaign) -> str:
    return (campaign.stop_language or campaign.account.stop_language).strip()


def final_template(campaign: Campaign) -> Template:
    """The body's template with the stop language appended as literal text (never
    doubled, never removable), as `texting.commit.final_body` appends it."""
    return with_stop_language(campaign.body, stop_language(campaign))


def with_stop_language(body: str, stop: str) -> Template:
    body = body.rstrip()
    template = parse(body)
    if not stop or body.endswith(stop):
        return template
    return template.append(f"\n{stop}")


def template_text(template: Template) -> str:
    """The template as typed (fields unrendered)."""
    return "".join(p if isinstance(p, str) else p.token for p in template.parts)


class _RegexpReplace(Func):
    function = "REGEXP_REPLACE"
    output_field = TextField()


def _removed(column: str, pattern: str) -> Func:
    """`column` with every character matching `pattern` removed."""
    return _RegexpReplace(F(column), Value(pattern), Value(""), Value("g"))


def longest_renderings(*, contacts: QuerySet, template: Template) -> list[str]:
    """The audience's longest GSM-7 rendering (septets) and longest UCS-2 rendering
    (UTF-16 units): at most two texts, computed in SQL.

    The literal text is the same for everyone, so only the merge fields' values are
    examined per row (`fields`: a few words, not the whole body): a rendering is UCS-2
    when the literal text is, or when a value has a character outside GSM-7; its size
    is the literal text's (a constant, left out of the ordering) plus the values'
    length and their extension characters (GSM-7) or astral characters (UCS-2)."""
    literal = "".join(part for part in template.parts if isinstance(part, str))
    rendered = contacts.order_by().annotate(
        rendered=sql_expression(template), fields=fields_expression(template)
    )
    if segment(literal).encoding == "UCS-2":
        gsm_rows, ucs2_rows = rendered.none(), rendered
    else:
        gsm_rows = rendered.exclude(fields__regex=NON_GSM_PATTERN)
        ucs2_rows = rendered.filter(fields__regex=NON_GSM_PATTERN)
    gsm = (
        gsm_rows.annotate(size=Length("fields") + Length(_removed("fields", NOT_EXTENSION_PATTERN)))
        .order_by("-size")
        .values_list("rendered", flat=True)[:1]
    )
    ucs2 = (
        ucs2_rows.annotate(size=Length("fields") + Length(_removed("fields", NOT_ASTRAL_PATTERN)))
        .order_by("-size")
        .values_list("rendered", flat=True)[:1]
    )
    return [*gsm, *ucs2]


@dataclass(frozen=True)
class MessageSize:
    """The size a campaign is billed and checked at (see the module's basis)."""

    worst: Segmentation  # the rendering with the most segments
    text: str  # that rendering
    gsm_segments: int  # for a recipient whose text is GSM-7
    ucs2_segments: int  # for one whose text is UCS-2
    basis: str  # one sentence for people


def message_size(*, template: Template, contacts: QuerySet | None) -> MessageSize:
    if not template.has_fields or contacts is None:
        text = render(template, _Blank()) if template.has_fields else template_text(template)
        size = segment(as_sent(text))
        basis = (
            "Counted with every merge field at its fallback."
            if template.has_fields
            else "Every recipient gets the same text."
        )
        return MessageSize(size, text, size.segments, size.segments, basis)
    texts = longest_renderings(contacts=contacts, template=template)
    if not texts:
        texts = [render(template, _Blank())]
    # Long URLs count as the short links that replace them (texting.links).
    sized = [(segment(as_sent(text)), text) for text in texts]
    by_encoding = {s.encoding: s.segments for s, _ in sized}
    worst, text = max(sized, key=lambda pair: (pair[0].segments, pair[0].characters))
    return MessageSize(
        worst=worst,
        text=text,
        gsm_segments=by_encoding.get("GSM-7", worst.segments),
        ucs2_segments=by_encoding.get("UCS-2", worst.segments),
        basis=(
            "Merge fields: segments and cost use the longest rendering across the audience "
            "(an upper bound per recipient)."
        ),
    )


class _Blank:
    """A contact with no values: every field renders its fallback."""

    first_name = last_name = preferred_name = street = city = state = zip = ""
    custom_fields: dict = {}


BLANK_CONTACT = _Blank()


@dataclass(frozen=True)
class Preview:
    size: Segmentation
    rendered: str
    errors: list[str]

    def as_dict(self) -> dict:
        """API.md `POST /api/v1/compose/preview/`."""
        return {
            "characters": self.size.characters,
            "segments": self.size.segments,
            "encoding": self.size.encoding,
            "non_gsm_characters": self.size.forced_ucs2,
            "rendered": self.rendered,
        }


def compose_preview(*, body: str, contact=None, stop_language: str | None = None) -> Preview:
    """Count a body as typed; with a contact, render its merge fields for them (fallbacks
    where empty); with stop language, append it as every campaign message ends."""
    stop = (stop_language or "").strip()
    template = with_stop_language(body, stop) if stop else parse(body)
    if contact is not None:
        text = render(template, contact)
    elif stop:
        text = template_text(template)
    else:
        text = body  # exactly as given
    return Preview(size=segment(text), rendered=text, errors=list(template.errors))
