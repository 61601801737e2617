"""Merge fields (render, validate, fallbacks), the compose preview API, the commit's
per-recipient bodies and the Tech Check's longest rendering."""

from decimal import Decimal

import pytest

from contacts.models import Contact
from tests.factories import api_client, make_account, make_contact, make_member, make_number
from texting import merge
from texting.commit import campaign_commit
from texting.models import Campaign, Message
from texting.techcheck import campaign_tech_check

pytestmark = pytest.mark.django_db


def person(**fields) -> Contact:
    base = {
        "first_name": "",
        "last_name": "",
        "preferred_name": "",
        "street": "",
        "city": "",
        "state": "",
        "zip": "",
        "custom_fields": {},
    }
    return Contact(**(base | fields))


@pytest.mark.parametrize(
    "body, fields, expected",
    [
        ("Hi {first_name}!", {"first_name": "Ana"}, "Hi Ana!"),
        ("Hi {first_name|there}!", {"first_name": ""}, "Hi there!"),
        ("Hi {first_name|there}!", {"first_name": "Ana"}, "Hi Ana!"),
        ("Hi {first_name}!", {}, "Hi !"),
        ("{ first_name }", {"first_name": "Ana"}, "Ana"),
        ("{preferred_name|friend} {last_name}", {"last_name": "Lee"}, "friend Lee"),
        (
            "Vote at {address}",
            {"street": "1 Main St", "city": "Salem", "state": "OR", "zip": "97301"},
            "Vote at 1 Main St, Salem, OR 97301",
        ),
        ("Vote at {address}", {"city": "Salem", "state": "OR"}, "Vote at Salem, OR"),
        ("Vote at {address|your polling place}", {}, "Vote at your polling place"),
        ("Ward {custom.ward}", {"custom_fields": {"ward": "7"}}, "Ward 7"),
        ("Ward {custom.ward}", {"custom_fields": {"ward": 7}}, "Ward 7"),
        ("Ward {custom.ward|unknown}", {"custom_fields": {}}, "Ward unknown"),
        ("Ward {custom.ward|?}", {"custom_fields": {"ward": ""}}, "Ward ?"),
        ("Braces } alone {", {}, "Braces } alone {"),
        ("Price {", {}, "Price {"),
    ],
)
def test_render(body, fields, expected):
    assert merge.validate(body) == []
    assert merge.render(body, person(**fields)) == expected


@pytest.mark.parametrize(
    "body, named",
    [
        ("Hi {firstname}", "{firstname}"),
        ("Hi {first_name} from {city}", "{city}"),
        ("Hi {nickname|pal}", "{nickname|pal}"),
        ("Hi {}", "{}"),
        ("Ward {custom.}", "{custom.}"),
        ("Ward {custom.a b}", "{custom.a b}"),
    ],
)
def test_unknown_fields_are_errors_naming_the_field(body, named):
    errors = merge.validate(body)
    assert len(errors) == 1 and named in errors[0]


# --- The preview API ------------------------------------------------------------------


@pytest.fixture
def shop():
    account = make_account("compose")
    manager = make_member(account, "manager")
    return account, manager, api_client(manager, account)


def test_preview_counts_the_body_exactly_as_given(shop):
    _, _, api = shop
    response = api.post("/api/v1/compose/preview/", {"body": "Hola, ¿cómo está? 😜"}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "characters": 19,  # graphemes: the emoji is one
        "segments": 1,
        "encoding": "UCS-2",
        "non_gsm_characters": ["ó", "á", "😜"],  # ¿ is GSM-7
        "rendered": "Hola, ¿cómo está? 😜",
    }
    gsm = api.post("/api/v1/compose/preview/", {"body": "A" * 152 + "{" + "A" * 152})
    assert gsm.json()["segments"] == 3 and gsm.json()["characters"] == 306


def test_preview_renders_for_a_contact_with_the_stop_language(shop):
    account, _, api = shop
    ana = make_contact(account, first_name="Ana", city="Salem", state="OR")
    response = api.post(
        "/api/v1/compose/preview/",
        {
            "body": "Hi {first_name|there}, vote in {address}!",
            "contact_id": ana.pk,
            "stop_language": "Reply STOP to opt out.",
        },
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["rendered"] == "Hi Ana, vote in Salem, OR!\nReply STOP to opt out."
    assert (body["encoding"], body["segments"], body["characters"]) == ("GSM-7", 1, 49)


def test_preview_refuses_an_unknown_field_and_other_accounts_contacts(shop):
    account, _, api = shop
    bad = api.post("/api/v1/compose/preview/", {"body": "Hi {nickname}"}, format="json")
    assert bad.status_code == 400
    assert "{nickname}" in bad.json()["body"][0]
    stranger = make_contact(make_account("elsewhere"), first_name="Zed")
    other = api.post(
        "/api/v1/compose/preview/",
        {"body": "Hi {first_name}", "contact_id": stranger.pk},
        format="json",
    )
    assert other.status_code == 404


@pytest.mark.parametrize("role, code", [("admin", 200), ("field", 403), ("viewer", 403)])
def test_preview_is_for_those_who_compose(shop, role, code):
    account, _, _ = shop
    client = api_client(make_member(account, role), account)
    assert client.post("/api/v1/compose/preview/", {"body": "Hi"}).status_code == code


def test_campaign_create_and_update_refuse_unknown_fields(shop):
    _, _, api = shop
    created = api.post(
        "/api/v1/campaigns/", {"name": "x", "body": "Hi {frist_name}"}, format="json"
    )
    assert created.status_code == 400 and "{frist_name}" in created.json()["body"][0]
    ok = api.post("/api/v1/campaigns/", {"name": "x", "body": "Hi {first_name}"}, format="json")
    assert ok.status_code == 201
    patched = api.patch(
        f"/api/v1/campaigns/{ok.json()['id']}/", {"body": "Hi {zip_code}"}, format="json"
    )
    assert patched.status_code == 400 and "{zip_code}" in patched.json()["body"][0]
    assert Campaign.objects.get(pk=ok.json()["id"]).body == "Hi {first_name}"


# --- Commit and Tech Check --------------------------------------------------------------


@pytest.fixture
def merge_world(settings, daytime_recipients):
    settings.SEGMENT_PRICE = {"long": "0.0100", "toll_free": "0.0200", "short": "0.0050"}
    account = make_account("merge", balance=Decimal("50"))
    manager = make_member(account, "manager")
    number = make_number(account, "+15035550100", state="OR", mps=4)
    people = [
        make_contact(account, "+19715550101", first_name="Ana", custom_fields={"ward": "7"}),
        make_contact(account, "+19715550102", first_name=""),  # the fallback
        make_contact(account, "+19715550103", first_name="Núria"),  # UCS-2 for this one
        make_contact(  # the longest
            account, "+19715550104", first_name="B" * 100, custom_fields={"ward": "W" * 60}
        ),
    ]
    campaign = Campaign.objects.create(
        account=account,
        created_by=manager,
        name="GOTV",
        body="Hi {first_name|there}, ward {custom.ward|unknown}.",
        sender_ids=[number.pk],
        audience={"contact_ids": [c.pk for c in people]},
    )
    return account, manager, people, campaign


def test_commit_renders_each_recipients_body(merge_world):
    account, manager, people, campaign = merge_world
    result = campaign_commit(campaign=campaign, actor=manager)
    assert result.inserted == 4
    rows = {m.contact_id: m for m in Message.objects.filter(campaign=campaign)}
    stop = "\nReply STOP to opt out."
    ana, blank, jose, long = (rows[p.pk] for p in people)
    assert ana.body == "Hi Ana, ward 7." + stop
    assert blank.body == "Hi there, ward unknown." + stop
    assert jose.body == "Hi Núria, ward unknown." + stop
    assert (ana.encoding, jose.encoding) == ("GSM-7", "UCS-2")
    # Segments: the longest GSM-7 rendering's count for every GSM-7 message (basis).
    assert long.body == "Hi " + "B" * 100 + ", ward " + "W" * 60 + "." + stop
    assert (long.segments, ana.segments, blank.segments) == (2, 2, 2)
    assert jose.segments == 1  # the only (so the longest) UCS-2 rendering fits in one


def test_an_unknown_field_fails_the_tech_check(merge_world):
    account, manager, people, campaign = merge_world
    Campaign.objects.filter(pk=campaign.pk).update(body="Polls close at 8pm {today}!")
    campaign.refresh_from_db()
    check = campaign_tech_check(campaign=campaign)
    assert not check.ok
    body = next(c for c in check.checks if c.name == "body")
    assert not body.ok and "{today}" in body.message


def test_tech_check_uses_the_longest_rendering_and_renders_samples(merge_world):
    account, manager, people, campaign = merge_world
    check = campaign_tech_check(campaign=campaign)
    assert check.ok, check.failed
    assert (check.segments, check.encoding) == (2, "GSM-7")
    longest = "Hi " + "B" * 100 + ", ward " + "W" * 60 + ".\nReply STOP to opt out."
    assert check.characters == len(longest) == 194
    assert check.estimated_cost == Decimal("0.0800")  # 4 recipients x 2 segments x $0.01
    assert [s.text.split(",")[0] for s in check.samples] == ["Hi Ana", "Hi there", "Hi Núria"]
    assert check.final_body.startswith("Hi {first_name|there}")


@pytest.mark.parametrize(
    ("body", "names", "expected"),
    [
        # GSM-7: a value's extension characters count twice ("{}" = 4 septets > "abc").
        ("Hi {first_name}!", ["abc", "{}", "ab"], ["Hi {}!"]),
        # UCS-2: an emoji is two UTF-16 units, so "😀😀" (2 characters, 4 units) beats
        # "漢字x" (3 and 3); "éé" is GSM-7 (the longest there).
        ("Hi {first_name}!", ["漢字x", "😀😀", "éé"], ["Hi éé!", "Hi 😀😀!"]),
        # A literal outside GSM-7 makes every rendering UCS-2: the longest by units.
        ("Ciao {first_name} 🙂", ["Ann", "😀😀"], ["Ciao 😀😀 🙂"]),
    ],
)
def test_the_longest_rendering_per_encoding(account, body, names, expected):
    from texting.compose import longest_renderings

    for i, name in enumerate(names):
        make_contact(account, f"+1312555{i + 600:04d}", first_name=name)
    texts = longest_renderings(
        contacts=Contact.objects.filter(account=account), template=merge.parse(body)
    )
    assert texts == expected


@pytest.mark.parametrize(
    ("body", "encodings"),
    [
        # Only the recipient left at the fallback gets the emoji: only theirs is UCS-2.
        ("Hi {first_name|friend 🙂}, ward {custom.ward|?}.", ["GSM-7", "UCS-2", "UCS-2"]),
        # Text outside GSM-7 in the literal part: every message is UCS-2.
        ("¡Hola {first_name|amigo}! 🗳️", ["UCS-2", "UCS-2", "UCS-2"]),
    ],
)
def test_commit_encodes_each_rendering_on_its_own(merge_world, body, encodings):
    account, manager, people, campaign = merge_world
    Campaign.objects.filter(pk=campaign.pk).update(body=body)
    campaign.refresh_from_db()
    campaign_commit(campaign=campaign, actor=manager)
    rows = {m.contact_id: m.encoding for m in Message.objects.filter(campaign=campaign)}
    ana, blank, nuria = people[:3]
    assert [rows[ana.pk], rows[blank.pk], rows[nuria.pk]] == encodings
