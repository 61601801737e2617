"""Password guessing is slowed down (issue 14, item 8): the token endpoint answers 429
with Retry-After, the sign-in page says how long to wait; per username and per IP."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import redis_keys_cleared
from tests.factories import make_account, make_member

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
GOOD = "pw-for-tests-1"


@pytest.fixture(autouse=True)
def _no_failures_left_over():
    """The failure counters live in Redis, outside the test transaction."""
    yield from redis_keys_cleared("login:fail:*")


@pytest.fixture
def small_ip_limit(settings):
    """Each failure costs a password hash (~0.3 s here): the IP tests guess 4 times,
    not the default 20."""
    settings.LOGIN_FAILURES_PER_IP = 4


@pytest.fixture
def victim(db):
    return make_member(make_account(), "admin", "victim")


def token_post(username: str, password: str, ip: str = "203.0.113.1"):
    return APIClient().post(
        TOKEN_URL, {"username": username, "password": password}, format="json", REMOTE_ADDR=ip
    )


def test_token_endpoint_slows_down_guessing_one_username(victim, settings):
    for _ in range(settings.LOGIN_FAILURES_PER_USERNAME):
        assert token_post("victim", "guess").status_code == 400

    blocked = token_post("victim", GOOD)  # even the right password, from anywhere
    assert blocked.status_code == 429
    assert blocked.json()["detail"] == "Too many attempts; try again in 15 minutes."
    assert 14 * 60 < int(blocked["Retry-After"]) <= 15 * 60
    assert token_post("victim", GOOD, ip="198.51.100.7").status_code == 429
    # Other users are not affected.
    make_member(make_account(), "manager", "bystander")
    assert token_post("bystander", GOOD).status_code == 200


def test_token_endpoint_slows_down_one_ip_guessing_many_usernames(victim, settings, small_ip_limit):
    attacker = "203.0.113.66"
    for n in range(settings.LOGIN_FAILURES_PER_IP):
        assert token_post(f"nobody{n}", "guess", ip=attacker).status_code == 400

    assert token_post("victim", GOOD, ip=attacker).status_code == 429
    # The victim, from their own address, still signs in.
    assert token_post("victim", GOOD, ip="198.51.100.7").status_code == 200


def test_a_success_does_not_unlock_an_attackers_ip(victim, settings, small_ip_limit):
    attacker = "203.0.113.66"
    for n in range(settings.LOGIN_FAILURES_PER_IP):
        token_post(f"nobody{n}", "guess", ip=attacker)
    assert token_post("victim", GOOD, ip="198.51.100.7").status_code == 200
    # The attacker's own valid account does not reopen their address either.
    make_member(make_account(), "viewer", "accomplice")
    assert token_post("accomplice", GOOD, ip="198.51.100.8").status_code == 200
    assert token_post("accomplice", GOOD, ip=attacker).status_code == 429


def test_sign_in_page_says_how_long_to_wait(victim, settings):
    browser = Client()
    for _ in range(settings.LOGIN_FAILURES_PER_USERNAME):
        page = browser.post("/login/", {"username": "victim", "password": "guess"})
        assert page.status_code == 200
        assert "Please enter a correct username and password" in page.content.decode()

    page = browser.post("/login/", {"username": "victim", "password": GOOD})
    assert page.status_code == 429
    assert "Too many attempts; try again in 15 minutes." in page.content.decode()
    assert "_auth_user_id" not in browser.session  # the right password did not sign in
    # API and page share the count: the token endpoint refuses the username too.
    assert token_post("victim", GOOD).status_code == 429


def test_sign_in_page_and_admin_count_failures_per_ip(victim, settings, small_ip_limit):
    browser = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(settings.LOGIN_FAILURES_PER_IP // 2):
        browser.post("/login/", {"username": f"x{n}", "password": "guess"})
    for n in range(settings.LOGIN_FAILURES_PER_IP - settings.LOGIN_FAILURES_PER_IP // 2):
        browser.post("/admin/login/", {"username": f"y{n}", "password": "guess"})
    page = browser.post("/admin/login/", {"username": "victim", "password": GOOD})
    assert page.status_code == 200  # Django's admin renders its form; no 500
    assert "Too many attempts; try again in 15 minutes." in page.content.decode()
    page = browser.post("/login/", {"username": "victim", "password": GOOD})
    assert page.status_code == 429


def test_limits_are_settings(victim, settings):
    settings.LOGIN_FAILURES_PER_USERNAME = 2
    settings.LOGIN_FAILURE_WINDOW = 90
    token_post("victim", "guess")
    token_post("victim", "guess")
    blocked = token_post("victim", GOOD)
    assert blocked.status_code == 429
    assert blocked.json()["detail"] == "Too many attempts; try again in 2 minutes."
    assert int(blocked["Retry-After"]) <= 90


def test_a_burst_of_parallel_guesses_gets_no_more_tries(settings):
    """Guesses sent all at once: each is counted before its password is checked, so the
    limit holds however many arrive together (the username need not even exist)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def guess(n: int) -> int:
        try:
            return token_post("burst-victim", f"guess-{n}", ip=f"198.51.100.{n}").status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = sorted(pool.map(guess, range(8)))
    limit = settings.LOGIN_FAILURES_PER_USERNAME
    assert answers == [400] * limit + [429] * (8 - limit)


def test_redis_down_signs_in_unthrottled_never_a_500(victim, settings):
    from tests.servers import free_port

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    assert token_post("victim", "guess").status_code == 400
    assert token_post("victim", GOOD).status_code == 200
    page = Client().post("/login/", {"username": "victim", "password": GOOD})
    assert page.status_code == 302
