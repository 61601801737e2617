import pytest
from django.urls import reverse

from accounts.api import SESSION_ACCOUNT_KEY
from tests.factories import make_member, make_user
from tests.ui.conftest import login_client

pytestmark = pytest.mark.django_db


def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b"A2P Texting" in response.content


def test_login_with_password_reaches_the_dashboard(client, account):
    make_member(account, "admin", "demo")
    response = client.post(
        reverse("login"), {"username": "demo", "password": "pw-for-tests-1"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert b"<h1>Dashboard</h1>" in response.content
    assert account.name.encode() in response.content


def test_wrong_password_shows_an_error(client, account):
    make_member(account, "admin", "demo")
    response = client.post(reverse("login"), {"username": "demo", "password": "nope"})
    assert response.status_code == 200
    assert b"alert-error" in response.content


@pytest.mark.parametrize(
    "name", ["dashboard", "contact-list", "campaign-list", "number-list", "account-settings"]
)
def test_logged_out_visitors_are_sent_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_logout_is_a_post(admin_web):
    response = admin_web.post(reverse("logout"))
    assert response.status_code == 302 and response.url == reverse("login")
    assert admin_web.get(reverse("dashboard")).status_code == 302


def test_user_without_membership_sees_a_clear_page(db):
    client = login_client(make_user("loner"))
    response = client.get(reverse("dashboard"))
    assert response.status_code == 403
    assert b"not a member of any account" in response.content


def test_account_switcher_changes_the_account(account, other_account, admin_user):
    make_member(other_account, "viewer", "someone")
    other_account.memberships.create(user=admin_user, role="viewer")
    client = login_client(admin_user)
    page = client.get(reverse("dashboard"))
    assert b'name="slug"' in page.content  # two memberships: the switcher shows

    response = client.post(reverse("account-switch"), {"slug": "bravo", "next": "/contacts/"})
    assert response.status_code == 302 and response.url == "/contacts/"
    assert client.session[SESSION_ACCOUNT_KEY] == "bravo"
    page = client.get(reverse("dashboard"))
    assert page.context["current_account"] == other_account


def test_account_switcher_refuses_a_slug_the_user_is_not_a_member_of(
    account, other_account, admin_web
):
    admin_web.post(reverse("account-switch"), {"slug": "alpha"})
    response = admin_web.post(reverse("account-switch"), {"slug": "bravo"})
    assert response.status_code == 403
    assert b"not a member" in response.content
    assert admin_web.session[SESSION_ACCOUNT_KEY] == "alpha"
    assert admin_web.get(reverse("dashboard")).context["current_account"] == account


def test_account_switcher_ignores_an_offsite_next(account, admin_web):
    response = admin_web.post(
        reverse("account-switch"), {"slug": "alpha", "next": "https://evil.example/"}
    )
    assert response.url == reverse("dashboard")


@pytest.mark.parametrize(
    ("role", "visible", "hidden"),
    [
        ("admin", ["Numbers", "Automations", "Contacts", "Conversations"], []),
        ("manager", ["Numbers", "Automations"], []),
        ("field", ["Contacts", "Conversations"], ["Numbers", "Automations"]),
        ("viewer", ["Contacts"], ["Numbers", "Automations"]),
    ],
)
def test_navigation_hides_what_the_role_may_not_use(member_client, role, visible, hidden):
    html = member_client(role).get(reverse("dashboard")).content.decode()
    nav = html[html.index('<nav class="sidenav"') : html.index("</nav>")]
    for item in visible:
        assert f">{item}</a>" in nav
    for item in hidden:
        assert f">{item}</a>" not in nav


def test_unknown_page_renders_the_friendly_404(admin_web):
    response = admin_web.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Not found" in response.content


def test_empty_pages_say_what_holds_today(admin_web, member_client):
    inbox = admin_web.get(reverse("conversation-inbox"))
    assert inbox.status_code == 200 and b"No automations yet" not in inbox.content
    assert b'class="active" aria-current="page">Conversations' in inbox.content
    automations = admin_web.get(reverse("automation-list"))
    assert automations.status_code == 200 and b"No automations yet." in automations.content
    assert b"STOP, HELP and START are always answered for you" in automations.content
    assert member_client("field").get(reverse("automation-list")).status_code == 403


def test_dashboard_shows_real_counts_and_recent_replies(account, other_account, admin_web):
    from conversations.models import Conversation
    from tests.factories import make_contact, make_number
    from tests.inbound import text_in

    ana = make_contact(account, "+15035550131", first_name="Ana", last_name="Lopez")
    make_contact(account, first_name="Ben")
    make_contact(other_account, first_name="Hidden")
    make_number(account, "+18335550131", kind="toll_free")
    text_in(ana.phone, "+18335550131", "Count me in!")  # the recent-replies panel's feed
    response = admin_web.get(reverse("dashboard"))
    assert response.context["contacts_total"] == 2
    assert response.context["numbers_total"] == 1
    html = response.content.decode()
    assert "Count me in!" in html
    thread = Conversation.objects.get(contact=ana)
    assert reverse("conversation-thread", args=[thread.pk]) in html
    assert "Hidden" not in html


def test_dashboard_lists_the_latest_sends_with_their_figures(account, admin_web):
    from django.utils import timezone

    from tests.factories import make_contact
    from texting.models import Campaign, Message

    gotv = Campaign.objects.create(account=account, name="GOTV Saturday", status="sending")
    Campaign.objects.create(account=account, name="Unsent draft")
    for i, status in enumerate(["delivered", "delivered", "sent", "failed", "queued"]):
        contact = make_contact(account, f"+1312555{i + 140:04d}")
        Message.objects.create(
            account=account,
            campaign=gotv,
            contact=contact,
            from_number="+13125550100",
            to_number=contact.phone,
            body="Polls open at 7",
            status=status,
            send_after=timezone.now(),
            charged="0.004" if status != "queued" else None,
        )
    html = admin_web.get(reverse("dashboard")).content.decode()
    table = html[html.index("data-recent-sends") :]
    assert "GOTV Saturday" in table and "Unsent draft" not in table
    cells = [
        table.split(f'data-label="{label}" class="num">')[1].split("<")[0]
        for label in ("Sent", "Delivered", "Failed", "Replied", "Opted out")
    ]
    assert cells == ["3", "2", "1", "0", "0"]
    tab = admin_web.get(reverse("campaign-tab", args=[gotv.pk, "dashboard"])).content.decode()
    assert '<dd data-field="delivered">2</dd>' in tab
    assert '<dd data-field="charged">$0.02' in tab  # four charged messages at $0.004


@pytest.mark.parametrize(
    ("role", "sees_numbers", "sees_replies"),
    [
        ("admin", True, True),
        ("manager", True, True),
        ("field", False, False),
        ("viewer", False, True),
    ],
)
def test_dashboard_follows_the_role_matrix(
    account, member_client, role, sees_numbers, sees_replies
):
    from tests.factories import make_contact, make_number
    from tests.inbound import text_in

    make_number(account, "+15035550177", kind="short")
    # An unassigned thread: field users see only conversations assigned to them.
    text_in(make_contact(account, first_name="Ana").phone, "+15035550177", "Private reply text")
    html = member_client(role).get(reverse("dashboard")).content.decode()
    assert ("Short code" in html) is sees_numbers
    assert ("Private reply text" in html) is sees_replies
