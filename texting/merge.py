"""Merge fields in a message body: `{first_name}`, `{last_name}`, `{preferred_name}`,
`{address}` (street, city, state zip on one line) and `{custom.<key>}` (the contact's
custom field), each with an optional fallback for an empty value: `{first_name|there}`.

A body is parsed once into a `Template` (literal text and fields). The same template
renders three ways, which agree by construction:
- `render(template, contact)`: one contact, in Python (preview, Tech Check samples);
- `sql_expression(template)`: an ORM expression over the contact's columns, so the
  commit renders every recipient's body inside its one INSERT ... SELECT;
- `texting.selectors.longest_renderings`: the worst case across an audience, in SQL,
  for segments and cost.

Any `{...}` in a body is a merge field: an unknown one is an error naming it
(`validate`), never sent as typed.
"""

import json
import re
from dataclasses import dataclass

from django.db.models import CharField, Expression, F, Func, TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, Concat, NullIf

CONTACT_FIELDS = ("first_name", "last_name", "preferred_name")
ADDRESS = "address"
CUSTOM_PREFIX = "custom."
FIELD_NAMES = (*CONTACT_FIELDS, ADDRESS, "custom.<key>")
_TOKEN = re.compile(r"\{([^{}|\n]*)(?:\|([^{}\n]*))?\}")
_CUSTOM_KEY = re.compile(r"^[\w-]+$")


@dataclass(frozen=True)
class Field:
    name: str
    fallback: str
    token: str  # as typed, for error messages

    @property
    def custom_key(self) -> str | None:
        return self.name[len(CUSTOM_PREFIX) :] if self.name.startswith(CUSTOM_PREFIX) else None


@dataclass(frozen=True)
class Template:
    parts: tuple[str | Field, ...]
    errors: tuple[str, ...] = ()

    @property
    def fields(self) -> list[Field]:
        return [p for p in self.parts if isinstance(p, Field)]

    @property
    def has_fields(self) -> bool:
        return any(isinstance(p, Field) for p in self.parts)

    def append(self, text: str) -> "Template":
        """The template with literal text after it (the stop language)."""
        return Template(parts=(*self.parts, text), errors=self.errors)


def _field_error(name: str, token: str) -> str | None:
    if name in CONTACT_FIELDS or name == ADDRESS:
        return None
    if name.startswith(CUSTOM_PREFIX):
        if _CUSTOM_KEY.match(name[len(CUSTOM_PREFIX) :]):
            return None
        return f"Merge field {token}: a custom field is written {{custom.key}} (letters, digits, _ or -)."
    known = ", ".join(f"{{{n}}}" for n in FIELD_NAMES)
    if not name:
        return f"Empty merge field {token}; use one of {known}."
    return f"Unknown merge field {token} ({name!r}); use one of {known}."


def parse(body: str) -> Template:
    parts: list[str | Field] = []
    errors: list[str] = []
    at = 0
    for match in _TOKEN.finditer(body):
        if match.start() > at:
            parts.append(body[at : match.start()])
        name = match.group(1).strip()
        error = _field_error(name, match.group(0))
        if error:
            errors.append(error)
            parts.append(match.group(0))
        else:
            parts.append(Field(name=name, fallback=match.group(2) or "", token=match.group(0)))
        at = match.end()
    if at < len(body):
        parts.append(body[at:])
    return Template(parts=tuple(parts), errors=tuple(dict.fromkeys(errors)))


def validate(body: str) -> list[str]:
    """Errors for every unknown or malformed merge field, each naming it; [] when fine."""
    return list(parse(body).errors)


def _custom_text(value: object) -> str:
    # As PostgreSQL's ->> renders a JSON value, so Python and SQL renderings agree.
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def address(contact) -> str:
    state_zip = " ".join(p for p in (contact.state, contact.zip) if p)
    return ", ".join(p for p in (contact.street, contact.city, state_zip) if p)


def field_value(field: Field, contact) -> str:
    if field.name == ADDRESS:
        value = address(contact)
    elif field.custom_key is not None:
        value = _custom_text((contact.custom_fields or {}).get(field.custom_key))
    else:
        value = getattr(contact, field.name) or ""
    return value or field.fallback


def render(template: Template | str, contact) -> str:
    """The text one contact receives (fallbacks where a value is empty)."""
    if isinstance(template, str):
        template = parse(template)
    return "".join(
        part if isinstance(part, str) else field_value(part, contact) for part in template.parts
    )


class _ConcatWs(Func):
    function = "CONCAT_WS"
    output_field = TextField()


def _sql_value(field: Field) -> Expression:
    if field.name == ADDRESS:
        state_zip = NullIf(
            _ConcatWs(Value(" "), NullIf(F("state"), Value("")), NullIf(F("zip"), Value(""))),
            Value(""),
        )
        value = _ConcatWs(
            Value(", "), NullIf(F("street"), Value("")), NullIf(F("city"), Value("")), state_zip
        )
    elif field.custom_key is not None:
        value = KeyTextTransform(field.custom_key, "custom_fields")
    else:
        value = F(field.name)
    return Coalesce(NullIf(value, Value("")), Value(field.fallback), output_field=TextField())


def fields_expression(template: Template) -> Expression:
    """Only the merge fields' rendered values, run together (no literal text): what
    varies between recipients, for sizing the audience's renderings cheaply."""
    pieces = [_sql_value(part) for part in template.parts if not isinstance(part, str)]
    if not pieces:
        return Value("", output_field=TextField())
    if len(pieces) == 1:
        return pieces[0]
    return Concat(*pieces, output_field=TextField())


def sql_expression(template: Template) -> Expression:
    """The rendered body as an expression over contacts_contact's columns."""
    pieces = [
        Value(part, output_field=CharField()) if isinstance(part, str) else _sql_value(part)
        for part in template.parts
        if part != ""
    ]
    if not pieces:
        return Value("", output_field=TextField())
    if len(pieces) == 1:
        return Coalesce(pieces[0], Value(""), output_field=TextField())
    return Concat(*pieces, output_field=TextField())
