"""The audience filter language (contacts.filters): every op over every kind of field,
nesting, Tribes inside filters (cycles refused), message-history fields (provided by
texting), and invalid filters refused naming the path. Each case runs the compiled
filter against real rows in PostgreSQL."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.filters import FilterError, filter_q
from contacts.models import Contact, TribeMember
from contacts.tribes import TribeError, tribe_create, tribe_members, tribe_update
from tests.factories import make_account, make_campaign, make_contact, make_event
from texting.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    account = make_account("filters")
    make_account("elsewhere")
    ana = make_contact(
        account,
        "+15035550101",
        first_name="Ana",
        last_name="Lopez",
        city="Portland",
        state="OR",
        zip="97201",
        custom_fields={
            "volunteer": True,
            "precinct": "P-101",
            "donations": 250,
            "since": "2024-03-01",
        },
    )
    ben = make_contact(
        account,
        "+15035550102",
        sms_status="none",
        pool="voter",
        first_name="Ben",
        last_name="Ng",
        city="portland",
        state="OR",
        zip="97215",
        custom_fields={"volunteer": "true", "precinct": "P-102", "donations": "40"},
    )
    cy = make_contact(
        account,
        "+12065550103",
        sms_status="opted_out",
        first_name="Cy",
        city="Seattle",
        state="WA",
        zip="98101",
        custom_fields={"volunteer": False, "donations": "lots"},
    )
    dee = make_contact(account, "+15415550104", first_name="Dee", custom_fields={})
    return account, {"ana": ana, "ben": ben, "cy": cy, "dee": dee}


def names(account, filter) -> set[str]:
    q = filter_q(filter, account=account)
    ids = Contact.objects.filter(account=account).filter(q).values_list("pk", flat=True)
    return {c.first_name.lower() for c in Contact.objects.filter(pk__in=list(ids))}


def cond(field, op, value=None, **extra):
    node = {"field": field, "op": op, **extra}
    if value is not None:
        node["value"] = value
    return {"all": [node]}


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        # text fields: case-insensitive
        ("city", "eq", "PORTLAND", {"ana", "ben"}),
        ("city", "ne", "Portland", {"cy", "dee"}),
        ("city", "in", ["seattle", "Portland"], {"ana", "ben", "cy"}),
        ("city", "not_in", ["Seattle"], {"ana", "ben", "dee"}),
        ("city", "contains", "TLA", {"ana", "ben"}),
        ("city", "exists", True, {"ana", "ben", "cy"}),
        ("city", "exists", False, {"dee"}),
        ("zip", "gte", "97210", {"ben", "cy"}),
        ("zip", "lt", "97210", {"ana"}),
        ("state", "eq", "wa", {"cy"}),
        # phone: any typed form, normalised
        ("phone", "eq", "(503) 555-0101", {"ana"}),
        ("phone", "in", ["503-555-0102", "+12065550103"], {"ben", "cy"}),
        ("phone", "contains", "541", {"dee"}),
        # choice fields
        ("sms_status", "eq", "opted_in", {"ana", "dee"}),
        ("sms_status", "not_in", ["opted_in", "opted_out"], {"ben"}),
        ("pool", "ne", "voter", {"ana", "cy", "dee"}),
        # custom fields: JSON value as text for equality
        ("custom.volunteer", "eq", True, {"ana", "ben"}),
        ("custom.volunteer", "eq", "false", {"cy"}),
        ("custom.volunteer", "ne", True, {"cy", "dee"}),
        ("custom.precinct", "in", ["P-101", "P-999"], {"ana"}),
        ("custom.precinct", "not_in", ["P-101"], {"ben", "cy", "dee"}),
        ("custom.precinct", "contains", "p-10", {"ana", "ben"}),
        ("custom.precinct", "exists", True, {"ana", "ben"}),
        ("custom.precinct", "exists", False, {"cy", "dee"}),
        # numbers compare numerically, over numbers and numeric strings only
        ("custom.donations", "gt", 100, {"ana"}),
        ("custom.donations", "gte", 40, {"ana", "ben"}),
        ("custom.donations", "lt", 100, {"ben"}),
        ("custom.donations", "lte", 250.0, {"ana", "ben"}),
        ("custom.donations", "eq", 40, {"ben"}),
        # strings compare as text (ISO dates order)
        ("custom.since", "lt", "2025-01-01", {"ana"}),
        ("custom.since", "gt", "2025-01-01", set()),
    ],
)
def test_condition_table(people, field, op, value, expected):
    account, _ = people
    assert names(account, cond(field, op, value)) == expected


def test_created_at_compares_with_dates_in_the_account_zone(people):
    account, p = people
    old = timezone.now() - datetime.timedelta(days=40)
    Contact.objects.filter(pk=p["cy"].pk).update(created_at=old)
    cutoff = (timezone.now() - datetime.timedelta(days=10)).date().isoformat()
    assert names(account, cond("created_at", "lt", cutoff)) == {"cy"}
    assert names(account, cond("created_at", "gte", cutoff)) == {"ana", "ben", "dee"}


def test_all_any_and_nesting(people):
    account, _ = people
    f = {
        "any": [
            {
                "all": [
                    {"field": "state", "op": "eq", "value": "OR"},
                    {"field": "custom.volunteer", "op": "eq", "value": True},
                    {"field": "pool", "op": "eq", "value": "contact"},
                ]
            },
            {"field": "city", "op": "eq", "value": "Seattle"},
        ]
    }
    assert names(account, f) == {"ana", "cy"}
    f2 = {
        "all": [
            {"field": "state", "op": "eq", "value": "OR"},
            {
                "any": [
                    {"field": "custom.donations", "op": "gt", "value": 1000},
                    {"field": "first_name", "op": "eq", "value": "ben"},
                ]
            },
        ]
    }
    assert names(account, f2) == {"ben"}


def test_another_accounts_contacts_never_match(people):
    account, _ = people
    other = make_account("third")
    make_contact(other, "+15035550101", first_name="Other", city="Portland")
    assert names(account, cond("city", "eq", "Portland")) == {"ana", "ben"}
    assert names(other, cond("city", "eq", "Portland")) == {"other"}


def test_tribes_inside_filters_list_and_saved(people):
    account, p = people
    portland = tribe_create(
        account=account, actor=None, name="Portland", filter=cond("city", "eq", "Portland")
    )
    callers = tribe_create(account=account, actor=None, name="Callers", kind="list")
    TribeMember.objects.create(tribe=callers, contact=p["cy"])
    TribeMember.objects.create(tribe=callers, contact=p["ana"])
    assert names(account, cond("tribe", "eq", portland.pk)) == {"ana", "ben"}
    assert names(account, cond("tribe", "eq", callers.pk)) == {"ana", "cy"}
    assert names(account, cond("tribe", "in", [portland.pk, callers.pk])) == {"ana", "ben", "cy"}
    assert names(account, cond("tribe", "ne", portland.pk)) == {"cy", "dee"}
    assert names(account, cond("tribe", "not_in", [portland.pk, callers.pk])) == {"dee"}
    # A Tribe of Tribes, resolved recursively into one statement.
    both = tribe_create(
        account=account,
        actor=None,
        name="Portland callers",
        filter={
            "all": [
                {"field": "tribe", "op": "eq", "value": portland.pk},
                {"field": "tribe", "op": "eq", "value": callers.pk},
            ]
        },
    )
    with CaptureQueriesContext(connection) as queries:
        ids = list(tribe_members(tribe=both).values_list("first_name", flat=True))
    assert ids == ["Ana"]
    selects = [q for q in queries.captured_queries if "contacts_contact" in q["sql"]]
    assert len(selects) == 1


def test_a_tribe_may_not_refer_to_itself(people):
    account, _ = people
    a = tribe_create(account=account, actor=None, name="A", filter=cond("state", "eq", "OR"))
    b = tribe_create(account=account, actor=None, name="B", filter=cond("tribe", "eq", a.pk))
    with pytest.raises(TribeError) as direct:
        tribe_update(tribe=a, data={"filter": cond("tribe", "eq", a.pk)})
    assert "refers to itself" in direct.value.message
    with pytest.raises(TribeError) as loop:
        tribe_update(tribe=a, data={"filter": cond("tribe", "eq", b.pk)})
    assert loop.value.field == "filter.all[0].value"
    a.refresh_from_db()
    assert a.filter == cond("state", "eq", "OR")


def test_history_fields_come_from_texting(people):
    account, p = people
    earlier = make_campaign(account, "Earlier")
    make_event(p["ben"], type="sms_received", campaign_id=earlier.pk, at=timezone.now())
    Message.objects.create(
        account=account,
        contact=p["dee"],
        from_number="+15035550900",
        to_number=p["dee"].phone,
        body="Hi",
        status="delivered",
        send_after=timezone.now(),
    )
    assert names(account, cond("replied_to_campaign", "eq", earlier.pk)) == {"ben"}
    assert names(account, cond("replied_to_campaign", "ne", earlier.pk)) == {"ana", "cy", "dee"}
    assert names(account, cond("messaged_within_hours", "eq", 24)) == {"dee"}
    assert names(account, cond("messaged_within_hours", "ne", 24)) == {"ana", "ben", "cy"}


@pytest.mark.parametrize(
    ("filter", "path"),
    [
        ([], "filter"),
        ({"all": []}, "filter.all"),
        ({"every": [cond("city", "eq", "x")["all"][0]]}, "filter"),
        (
            {
                "all": [
                    {"field": "city", "op": "eq", "value": "x"},
                    {"field": "shoe_size", "op": "eq", "value": 9},
                ]
            },
            "filter.all[1].field",
        ),
        (
            {
                "all": [
                    {"field": "city", "op": "eq", "value": "x"},
                    {"field": "city", "op": "eq", "value": "y"},
                    {"field": "city", "op": "like", "value": "z"},
                ]
            },
            "filter.all[2].op",
        ),
        (cond("city", "eq"), "filter.all[0].value"),
        (cond("city", "in", "Portland"), "filter.all[0].value"),
        (cond("city", "eq", {"nested": 1}), "filter.all[0].value"),
        (cond("sms_status", "eq", "maybe"), "filter.all[0].value"),
        (cond("sms_status", "contains", "opted"), "filter.all[0].op"),
        (cond("created_at", "gt", "last tuesday"), "filter.all[0].value"),
        (cond("phone", "eq", "555"), "filter.all[0].value"),
        (cond("custom.bad key", "eq", 1), "filter.all[0].field"),
        (cond("custom.n", "gt", True), "filter.all[0].value"),
        (cond("city", "exists", "yes"), "filter.all[0].value"),
        (cond("tribe", "eq", 999999), "filter.all[0].value"),
        (cond("tribe", "contains", 1), "filter.all[0].op"),
        (cond("replied_to_campaign", "eq", 999999), "filter.all[0].value"),
        (cond("messaged_within_hours", "eq", 0), "filter.all[0].value"),
        (cond("messaged_within_hours", "gt", 5), "filter.all[0].op"),
        ({"all": [{"field": "city", "op": "eq", "value": "x", "extra": 1}]}, "filter.all[0].extra"),
        (
            {
                "any": [
                    {"all": [{"all": [{"all": [{"all": [{"all": [cond("city", "eq", "x")]}]}]}]}]}
                ]
            },
            "filter.any[0].all[0].all[0].all[0].all[0]",
        ),
    ],
)
def test_invalid_filters_name_the_path(people, filter, path):
    account, _ = people
    with pytest.raises(FilterError) as err:
        filter_q(filter, account=account)
    assert err.value.path == path, err.value


def test_another_accounts_tribe_is_unknown(people):
    account, _ = people
    theirs = tribe_create(
        account=make_account("theirs"), actor=None, name="Theirs", filter=cond("state", "eq", "OR")
    )
    with pytest.raises(FilterError, match="No Tribe"):
        filter_q(cond("tribe", "eq", theirs.pk), account=account)
