"""Bad input is a 400, never a 500 (issue 14, item 10), for every endpoint of the API.

The endpoints come from the OpenAPI schema (drf-spectacular), so a new one is covered
the day it is added: every request body field (and every value nested in a realistic
body, such as a filter's `op`) and every query parameter is replaced in turn with a
value that once gave a 500: a NUL byte, a lone surrogate, integers that fit no database
column, floats JSON cannot hold (NaN, Infinity, 1e309), the wrong JSON type and JSON
nested deeper than any parser should follow. Whole bodies of the wrong shape are sent
too. Any answer of 500 or more fails, with the list of requests that got one.

Real objects (a contact, a number, a campaign, a conversation, Tribes, a template, a
macro, a DNC entry, an import, a medium) make the detail routes resolve, so validation
runs past the 404. Each request runs in its own savepoint, rolled back, so what one
request changes cannot hide another's failure.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from drf_spectacular.generators import SchemaGenerator

from compliance.models import DncEntry
from contacts.models import ContactImport, Tribe, TribeKind, TribeMember
from conversations.models import Conversation, Macro
from tests.factories import api_client, make_account, make_contact, make_member, make_number
from tests.inbound import text_in
from texting.models import Campaign, Media, MessageTemplate

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_dispatch_state")]

OURS, ANA = "+19715550871", "+15035550871"

# Raw JSON text spliced into a body where a marker stands (json.dumps cannot write them).
DEEP = "[" * 5_000 + "]" * 5_000  # beyond Python's recursion limit
DEEP_OBJECT = '{"a":' * 2_000 + "1" + "}" * 2_000
RAW = {
    "@1e309@": "1e309",
    "@deep@": DEEP,
    "@nested-40@": "[" * 40 + "]" * 40,  # parses, but deeper than any body needs
}
BAD_VALUES: list[Any] = [
    "a\x00b",
    "\ud800",
    2**64,
    -(2**63) - 1,
    10**400,
    float("nan"),
    float("-inf"),
    "@1e309@",
    [],
    ["a\x00"],
    {"a": "\x00"},
    True,
    None,
    "@deep@",
    "@nested-40@",
]
BAD_BODIES = [
    "[]",
    "null",
    "1e309",
    "NaN",
    '"\\u0000"',
    '{"\\u0000": 1}',
    '{"\\ud800": 1}',
    DEEP,
    DEEP_OBJECT,
    b'{"name": "\xff\xfe"}',
]
BAD_QUERY = [
    "a%00b",
    "%ED%A0%80",  # a lone surrogate, as UTF-8 would spell it (invalid UTF-8)
    "18446744073709551616",
    "-9223372036854775809",
    "1e309",
    "NaN",
    "[]",
    "",
]
# Parameters every list endpoint might read, declared in the schema or not.
COMMON_QUERY = ["page", "page_size", "ordering", "status", "mode", "q", "format"]


def encode(body: Any) -> bytes:
    text = json.dumps(body, allow_nan=True)  # ensure_ascii: a lone surrogate as \ud800
    for marker, raw in RAW.items():
        text = text.replace(json.dumps(marker), raw)
    return text.encode()


def leaf_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a body a value could be replaced: each key and each list item,
    however deep (the containers themselves too)."""
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            paths += leaf_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += leaf_paths(item, (*prefix, index))
    return paths


def replaced(body: Any, path: tuple, new: Any) -> Any:
    copy = json.loads(json.dumps(body))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


@pytest.fixture
def world():
    account = make_account("fuzz")
    admin = make_member(account, "admin", "fuzz-admin")
    number = make_number(account, OURS, mps=50)
    contact = make_contact(account, ANA, first_name="Ana", custom_fields={"team": "north"})
    saved = Tribe.objects.create(
        account=account,
        name="Oregon",
        filter={"all": [{"field": "state", "op": "eq", "value": "OR"}]},
    )
    listed = Tribe.objects.create(account=account, name="Volunteers", kind=TribeKind.LIST)
    TribeMember.objects.create(tribe=listed, contact=contact)
    campaign = Campaign.objects.create(
        account=account,
        name="GOTV",
        body="Hi {first_name}",
        sender_ids=[number.pk],
        audience={"tribe_id": saved.pk},
    )
    text_in(ANA, OURS, "Where do I vote?")
    conversation = Conversation.objects.get(account=account, contact=contact)
    template = MessageTemplate.objects.create(account=account, name="Hello", body="Hello!")
    macro = Macro.objects.create(account=account, name="Thanks", body="Thank you!")
    dnc = DncEntry.objects.create(account=account, phone="+15035550872", reason="request")
    imported = ContactImport.objects.create(account=account, filename="people.csv")
    media = Media(account=account, kind="image", content_type="image/png", size=4, sha256="0")
    media.file.save("dot.png", ContentFile(b"\x89PNG"), save=False)
    media.save()
    ids = {
        "campaigns": campaign.pk,
        "contacts": contact.pk,
        "conversations": conversation.pk,
        "dnc": dnc.pk,
        "imports": imported.pk,
        "macros": macro.pk,
        "media": media.pk,
        "templates": template.pk,
        "tribes": saved.pk,
    }
    bodies = {
        ("POST", "/api/v1/campaigns/"): {
            "name": "Fuzz",
            "description": "d",
            "tags": ["t"],
            "mode": "relationship",
            "body": "Hi",
            "media_ids": [media.pk],
            "sender_ids": [number.pk],
            "local_presence": False,
            "audience": {"filter": {"all": [{"field": "state", "op": "eq", "value": "OR"}]}},
            "stop_language": "Reply STOP to opt out",
            "exclusions": {
                "messaged_within_hours": 24,
                "replied_to_campaign": campaign.pk,
                "excluded_tribe_ids": [listed.pk],
            },
            "compliance": {},
        },
        ("POST", "/api/v1/campaigns/{id}/commit/"): {
            "send_mode": "schedule",
            "schedule_at": "2031-01-01T12:00:00Z",
            "recipient_local_time": False,
        },
        ("POST", "/api/v1/campaigns/{id}/throttle/"): {"max_mps": "2.5"},
        ("POST", "/api/v1/compose/preview/"): {
            "body": "Hi {first_name}",
            "contact_id": contact.pk,
            "stop_language": "Reply STOP",
        },
        ("POST", "/api/v1/contacts/"): {
            "phone": "+15035550873",
            "first_name": "Bo",
            "zip": "97201",
            "pool": "contact",
            "custom_fields": {"team": "south", "shifts": 3},
        },
        ("POST", "/api/v1/contacts/{id}/consents/"): {
            "source_type": "web_form",
            "source_ref": "https://example.org/form",
            "consent_language": "I agree",
            "captured_at": "2026-01-01T12:00:00Z",
            "ip": "192.0.2.1",
            "user_agent": "ua",
            "method": "single",
        },
        ("PATCH", "/api/v1/conversations/{id}/"): {
            "status": "closed",
            "assigned_to": admin.pk,
            "snooze_until": "2031-01-01T12:00:00Z",
            "tags": ["vip"],
        },
        ("POST", "/api/v1/conversations/{id}/messages/"): {"body": "Hi", "media_ids": [media.pk]},
        ("POST", "/api/v1/dnc/"): {"phone": "+15035550874", "reason": "request", "note": "n"},
        ("POST", "/api/v1/macros/{id}/send/"): {"conversation_ids": [conversation.pk]},
        ("POST", "/api/v1/simulator/inbound/"): {"from": ANA, "to": OURS, "text": "Hi"},
        ("POST", "/api/v1/templates/"): {
            "name": "T",
            "body": "B",
            "media_ids": [media.pk],
            "shared": True,
        },
        ("POST", "/api/v1/tribes/"): {
            "name": "Fuzzed",
            "mode": "cross",
            "filter": {
                "all": [
                    {"field": "state", "op": "in", "value": ["OR", "WA"]},
                    {"any": [{"field": "custom.shifts", "op": "gt", "value": 2}]},
                    {"field": "tribe", "op": "eq", "value": listed.pk},
                ]
            },
        },
    }
    # A PATCH reads like its POST.
    for path in ["campaigns", "contacts", "templates", "tribes"]:
        bodies[("PATCH", f"/api/v1/{path}/{{id}}/")] = bodies[("POST", f"/api/v1/{path}/")]
    bodies[("POST", "/api/v1/macros/")] = {"name": "M", "body": "B"}
    bodies[("PATCH", "/api/v1/macros/{id}/")] = {"name": "M", "body": "B"}
    bodies[("PATCH", "/api/v1/contacts/{id}/")] = {"first_name": "Ann", "custom_fields": {"a": 1}}
    return api_client(admin, account), ids, bodies


def concrete(path: str, ids: dict[str, int]) -> str:
    resource = path.removeprefix("/api/v1/").split("/")[0]
    return path.replace("{id}", str(ids.get(resource, 1)))


def schema_fields(schema: dict, operation: dict) -> list[str]:
    content = operation.get("requestBody", {}).get("content", {})
    body = content.get("application/json") or next(iter(content.values()), None)
    if body is None:
        return []
    ref = body["schema"].get("$ref", "")
    component = schema["components"]["schemas"].get(ref.split("/")[-1], body["schema"])
    return [
        name for name, spec in component.get("properties", {}).items() if not spec.get("readOnly")
    ]


def test_no_input_gets_a_server_error(world):
    client, ids, bodies = world
    schema = SchemaGenerator().get_schema(request=None, public=True)
    failures: list[str] = []
    count = 0

    def send(method: str, url: str, body: bytes | dict | None = None, what: str = "") -> None:
        nonlocal count
        count += 1
        try:
            with transaction.atomic():
                if isinstance(body, dict):  # a multipart form (uploads)
                    response = client.post(url, body, format="multipart")
                elif body is not None:
                    response = client.generic(method, url, body, "application/json")
                else:
                    response = client.generic(method, url)
                transaction.set_rollback(True)
            status = response.status_code
            detail = response.content[:200]
        except Exception as exc:  # the test client re-raises what the view raised
            status, detail = 500, f"{type(exc).__name__}: {str(exc)[:200]}"
        if status >= 500:
            failures.append(f"{method} {url[:120]} {what}: {status} {detail!r}")

    for template, operations in schema["paths"].items():
        url = concrete(template, ids)
        for method, operation in operations.items():
            method = method.upper()
            if method == "DELETE":
                continue
            if method == "GET":
                declared = [
                    p["name"] for p in operation.get("parameters", []) if p["in"] == "query"
                ]
                common = COMMON_QUERY if template.endswith("/") and "{id}/" not in template else []
                for name in dict.fromkeys(declared + common):
                    for value in BAD_QUERY:
                        send("GET", f"{url}?{name}={value}", what=f"?{name}")
                continue
            fields = schema_fields(schema, operation)
            content = operation.get("requestBody", {}).get("content", {})
            if not fields or "application/json" not in content:
                send(method, url, b"{}", "empty body")
                if "multipart/form-data" in content and method == "POST":
                    for name in fields:
                        for value in ["a\x00b", "18446744073709551616", "", "[]"]:
                            send(method, url, {name: value}, f"multipart {name}={value!r}")
                continue
            base = bodies.get((method, template), {})
            paths = [(name,) for name in fields if name not in base] + leaf_paths(base)
            for path in paths:
                for value in BAD_VALUES:
                    body = replaced(base, path, value) if path[0] in base else {**base}
                    if path[0] not in base:
                        body[path[0]] = value
                    send(method, url, encode(body), ".".join(map(str, path)) + f"={value!r:.20}")
            for raw in BAD_BODIES:
                send(
                    method, url, raw.encode() if isinstance(raw, str) else raw, f"body {raw[:12]!r}"
                )
        # Path ids that fit no column.
        if "{id}" in template and "get" in operations:
            for bad in ["18446744073709551616", "9223372036854775808", "2147483648"]:
                send("GET", template.replace("{id}", bad), what="id")

    assert count > 2000, count  # every endpoint was reached
    assert not failures, f"{len(failures)} of {count} requests got a 5xx:\n" + "\n".join(failures)


def test_a_nul_in_a_page_query_is_a_400_naming_the_parameter(admin_user):
    """Pages' search boxes pass their text to PostgreSQL as well."""
    from django.test import Client

    client = Client()
    client.force_login(admin_user)
    for url in ["/contacts/?q=a%00b", "/conversations/?q=%00", "/dnc/?q=%00"]:
        response = client.get(url)
        assert response.status_code == 400, url
        assert "'q'" in response.content.decode()
    assert client.get("/contacts/?q=ana").status_code == 200
