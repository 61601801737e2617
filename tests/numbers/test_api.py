import pytest

from tests.factories import api_client, make_account, make_member, make_number

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "expected"), [("admin", 200), ("manager", 200), ("field", 403), ("viewer", 403)]
)
def test_numbers_list_follows_the_role_matrix(role, expected):
    account = make_account()
    make_number(account, "+15035550100", kind="long", state="OR", mps=10)
    res = api_client(make_member(account, role), account).get("/api/v1/numbers/")
    assert res.status_code == expected
    if expected == 200:
        (number,) = res.json()["results"]
        assert number["e164"] == "+15035550100"
        assert number["kind"] == "long" and number["state"] == "OR"
        assert set(number["health"]) == {"delivery_rate", "opt_out_rate", "complaint_rate"}


def test_numbers_of_another_account_are_invisible(admin_api, account, other_account):
    make_number(account, "+15035550100")
    make_number(other_account, "+15035550101")
    numbers = [n["e164"] for n in admin_api.get("/api/v1/numbers/").json()["results"]]
    assert numbers == ["+15035550100"]


@pytest.mark.parametrize("method", ["head", "options"])
def test_head_and_options_need_the_read_capability(method):
    account = make_account()
    make_number(account)
    field = api_client(make_member(account, "field"), account)
    manager = api_client(make_member(account, "manager"), account)
    assert getattr(field, method)("/api/v1/numbers/").status_code == 403
    assert getattr(manager, method)("/api/v1/numbers/").status_code == 200


def test_an_undeclared_method_is_refused_even_for_admins(admin_api):
    assert admin_api.put("/api/v1/contacts/", {}, format="json").status_code in (403, 405)
    assert admin_api.post("/api/v1/numbers/", {}, format="json").status_code in (403, 405)
