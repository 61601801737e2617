import pytest

from tests.factories import api_client, make_account, make_contact, make_member, make_number
from texting.models import Campaign, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    account = make_account("camp")
    number = make_number(account, "+15035550100", state="OR", mps=10)
    contacts = [make_contact(account, f"+1971555{i:04d}") for i in range(100, 105)]
    return account, number, contacts


def client_for(account, role):
    return api_client(make_member(account, role), account)


def create(client, number, contacts, **extra):
    body = {
        "name": "GOTV",
        "body": "Polls close at 8!",
        "sender_ids": [number.pk],
        "audience": {"contact_ids": [c.pk for c in contacts]},
    } | extra
    return client.post("/api/v1/campaigns/", body, format="json")


def test_create_commit_status_and_messages(world):
    account, number, contacts = world
    manager = client_for(account, "manager")
    res = create(manager, number, contacts)
    assert res.status_code == 201, res.json()
    campaign_id = res.json()["id"]
    assert res.json()["status"] == "draft"

    committed = manager.post(
        f"/api/v1/campaigns/{campaign_id}/commit/", {"send_mode": "now"}, format="json"
    )
    assert committed.status_code == 200, committed.json()
    assert committed.json()["status"] == "sending"
    assert committed.json()["queued"] == 5

    snapshot = manager.get(f"/api/v1/campaigns/{campaign_id}/status/").json()
    assert snapshot | {"eta": None} == {
        "status": "sending",
        "selected": 5,
        "queued": 5,
        "sent": 0,
        "delivered": 0,
        "failed": 0,
        "opted_out": 0,
        "replied": 0,
        "progress": 0.0,
        "eta": None,
    }
    rows = manager.get(f"/api/v1/campaigns/{campaign_id}/messages/", {"q": "9715550102"}).json()[
        "results"
    ]
    assert [(r["phone"], r["status"], r["from_number"]) for r in rows] == [
        ("+19715550102", "queued", "+15035550100")
    ]
    csv = manager.get(f"/api/v1/campaigns/{campaign_id}/messages/", {"format": "csv"})
    assert csv["Content-Type"] == "text/csv"
    assert csv.content.decode().count("\n") == 6  # header + 5 rows

    # Committed campaigns are fixed; a second commit is a 409.
    assert (
        manager.patch(f"/api/v1/campaigns/{campaign_id}/", {"body": "x"}, format="json").status_code
        == 409
    )
    assert (
        manager.post(f"/api/v1/campaigns/{campaign_id}/commit/", {}, format="json").status_code
        == 409
    )


def test_pause_resume_cancel_and_wrong_states(world):
    account, number, contacts = world
    manager = client_for(account, "manager")
    campaign_id = create(manager, number, contacts).json()["id"]
    assert manager.post(f"/api/v1/campaigns/{campaign_id}/pause/").status_code == 409  # draft
    manager.post(f"/api/v1/campaigns/{campaign_id}/commit/", {}, format="json")

    viewer = client_for(account, "viewer")
    paused = viewer.post(f"/api/v1/campaigns/{campaign_id}/pause/")  # anyone who sees it
    assert (paused.status_code, paused.json()["status"]) == (200, "paused")
    assert viewer.post(f"/api/v1/campaigns/{campaign_id}/resume/").status_code == 403
    assert manager.post(f"/api/v1/campaigns/{campaign_id}/resume/").json()["status"] == "sending"
    throttled = manager.post(
        f"/api/v1/campaigns/{campaign_id}/throttle/", {"max_mps": "2.5"}, format="json"
    )
    assert throttled.json()["max_mps"] == "2.50"
    assert (
        manager.post(
            f"/api/v1/campaigns/{campaign_id}/throttle/", {"max_mps": 0}, format="json"
        ).status_code
        == 400
    )

    canceled = manager.post(f"/api/v1/campaigns/{campaign_id}/cancel/")
    assert canceled.json()["status"] == "canceled"
    assert set(
        Message.objects.filter(campaign_id=campaign_id).values_list("status", flat=True)
    ) == {"canceled"}
    assert manager.post(f"/api/v1/campaigns/{campaign_id}/resume/").status_code == 409
    assert manager.get(f"/api/v1/campaigns/{campaign_id}/status/").json()["progress"] == 1.0


@pytest.mark.parametrize(
    ("role", "create_code", "commit_code", "schedule_code"),
    [
        ("admin", 201, 200, 200),
        ("manager", 201, 200, 200),
        ("field", 403, 403, 403),
        ("viewer", 403, 403, 403),
    ],
)
def test_role_matrix_on_campaigns(world, role, create_code, commit_code, schedule_code):
    account, number, contacts = world
    client = client_for(account, role)
    assert create(client, number, contacts).status_code == create_code
    assert client.get("/api/v1/campaigns/").status_code == 200
    admin = client_for(account, "admin")
    now_id = create(admin, number, contacts).json()["id"]
    later_id = create(admin, number, contacts, name="Later").json()["id"]
    assert (
        client.post(f"/api/v1/campaigns/{now_id}/commit/", {}, format="json").status_code
        == commit_code
    )
    res = client.post(
        f"/api/v1/campaigns/{later_id}/commit/",
        {"send_mode": "schedule", "schedule_at": "2099-01-01T17:00:00Z"},
        format="json",
    )
    assert res.status_code == schedule_code


def test_bad_input_names_the_field_and_changes_nothing(world):
    account, number, contacts = world
    other_number = make_number(make_account("other"), "+13605550100")
    manager = client_for(account, "manager")
    bad = create(
        manager, number, contacts, sender_ids=[other_number.pk], audience={"contact_ids": "all"}
    )
    assert bad.status_code == 400
    assert set(bad.json()) == {"sender_ids", "audience"}
    assert not Campaign.objects.exists()

    campaign_id = create(manager, number, contacts, body="").json()["id"]
    res = manager.post(f"/api/v1/campaigns/{campaign_id}/commit/", {}, format="json")
    # An empty body is a failed pre-flight check (the Tech Check's "body"), so 422.
    assert (res.status_code, "empty" in res.json()["detail"]) == (422, True)
    assert [c["name"] for c in res.json()["checks"]] == ["body"]
    assert Campaign.objects.get(pk=campaign_id).status == "draft"


def test_another_tenants_campaign_is_404(world):
    account, number, contacts = world
    campaign_id = create(client_for(account, "admin"), number, contacts).json()["id"]
    outsider = client_for(make_account("outside"), "admin")
    for method, path in [
        ("get", ""),
        ("patch", ""),
        ("post", "commit/"),
        ("post", "pause/"),
        ("post", "cancel/"),
        ("get", "status/"),
        ("get", "messages/"),
    ]:
        res = getattr(outsider, method)(
            f"/api/v1/campaigns/{campaign_id}/{path}", {}, format="json"
        )
        assert res.status_code == 404, (method, path)
    assert outsider.get("/api/v1/campaigns/").json()["count"] == 0
