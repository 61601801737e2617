"""The compliance rules, table-driven: one row per rule of the reference
(shared/reference/compliance.md §1.6, §3.1, §3.2, §4.3), ids naming the rule. Pure
functions: no database."""

import datetime
from zoneinfo import ZoneInfo

import pytest

from compliance import rules
from compliance.rules import Cap, Window
from contacts.geo import phone_zones

T = datetime.time
UTC = datetime.UTC
DEFAULT = rules.account_window(quiet_start=T(21), quiet_end=T(8))

NY, CHI, DEN, PHX, LA = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
)
# Monday 23 Nov 2026; Saturday 21 and Sunday 22 Nov; Thanksgiving Thursday 26 Nov.
MON, SAT, SUN, THANKSGIVING = "2026-11-23", "2026-11-21", "2026-11-22", "2026-11-26"


def local(zone: str, day: str, hhmm: str) -> datetime.datetime:
    """The UTC instant when the wall clock in `zone` reads `day hhmm`."""
    naive = datetime.datetime.fromisoformat(f"{day}T{hhmm}")
    return naive.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def utc(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


# (zone, state, local day, local time, quiet?)
QUIET_HOURS = [
    pytest.param(NY, "", MON, "07:59", True, id="federal-before-0800-quiet"),
    pytest.param(NY, "", MON, "08:00", False, id="federal-0800-open"),
    pytest.param(NY, "", MON, "20:59", False, id="federal-2059-open"),
    pytest.param(NY, "", MON, "21:00", True, id="federal-2100-quiet"),
    pytest.param(NY, "FL", MON, "07:59", True, id="FL-0759-quiet"),
    pytest.param(NY, "FL", MON, "08:00", False, id="FL-0800-open"),
    pytest.param(NY, "FL", MON, "19:59", False, id="FL-1959-open"),
    pytest.param(NY, "FL", MON, "20:00", True, id="FL-2000-quiet"),
    pytest.param(CHI, "OK", MON, "19:59", False, id="OK-1959-open"),
    pytest.param(CHI, "OK", MON, "20:00", True, id="OK-2000-quiet"),
    pytest.param(NY, "MD", MON, "19:59", False, id="MD-1959-open"),
    pytest.param(NY, "MD", MON, "20:00", True, id="MD-2000-quiet"),
    pytest.param(LA, "WA", MON, "19:59", False, id="WA-1959-open"),
    pytest.param(LA, "WA", MON, "20:00", True, id="WA-2000-quiet"),
    pytest.param(LA, "OR", MON, "07:59", True, id="OR-0759-quiet"),
    pytest.param(LA, "OR", MON, "19:59", False, id="OR-1959-open"),
    pytest.param(LA, "OR", MON, "20:00", True, id="OR-2000-quiet"),
    pytest.param(NY, "CT", MON, "08:59", True, id="CT-0859-quiet"),
    pytest.param(NY, "CT", MON, "09:00", False, id="CT-0900-open"),
    pytest.param(NY, "CT", MON, "19:59", False, id="CT-1959-open"),
    pytest.param(NY, "CT", MON, "20:00", True, id="CT-2000-quiet"),
    pytest.param(CHI, "TX", MON, "08:59", True, id="TX-weekday-0859-quiet"),
    pytest.param(CHI, "TX", MON, "20:59", False, id="TX-weekday-2059-open"),
    pytest.param(CHI, "TX", MON, "21:00", True, id="TX-weekday-2100-quiet"),
    pytest.param(CHI, "TX", SAT, "08:59", True, id="TX-saturday-0859-quiet"),
    pytest.param(CHI, "TX", SAT, "09:00", False, id="TX-saturday-0900-open"),
    pytest.param(CHI, "TX", SUN, "09:00", True, id="TX-sunday-0900-quiet"),
    pytest.param(CHI, "TX", SUN, "11:59", True, id="TX-sunday-1159-quiet"),
    pytest.param(CHI, "TX", SUN, "12:00", False, id="TX-sunday-1200-open"),
    pytest.param(CHI, "TX", SUN, "21:00", True, id="TX-sunday-2100-quiet"),
    pytest.param(NY, "VA", MON, "07:59", True, id="VA-0759-quiet"),
    pytest.param(NY, "VA", MON, "20:59", False, id="VA-2059-open"),
    pytest.param(NY, "VA", MON, "21:00", True, id="VA-2100-quiet"),
    pytest.param(NY, "NJ", MON, "20:30", False, id="NJ-2030-open-no-8pm-cutoff"),
    pytest.param(NY, "NJ", MON, "21:00", True, id="NJ-2100-quiet"),
    pytest.param(CHI, "TN", MON, "20:59", False, id="TN-2059-open"),
    pytest.param(CHI, "TN", MON, "21:00", True, id="TN-2100-quiet"),
    pytest.param(NY, "RI", SUN, "12:00", False, id="RI-unverified-off-by-default"),
    pytest.param(NY, "ca", MON, "20:30", False, id="state-without-rule-federal-window"),
]


@pytest.mark.parametrize(("zone", "state", "day", "hhmm", "quiet"), QUIET_HOURS)
def test_quiet_hours_by_state_at_the_window_edges(zone, state, day, hhmm, quiet):
    assert rules.is_quiet(local(zone, day, hhmm), [zone], [state], DEFAULT) is quiet


# Rows the reference marks [UNVERIFIED] for texts apply when a campaign asks.
UNVERIFIED = [
    pytest.param("RI", SUN, "12:00", True, id="RI-no-sunday"),
    pytest.param("RI", MON, "08:59", True, id="RI-weekday-0859-quiet"),
    pytest.param("RI", MON, "09:00", False, id="RI-weekday-0900-open"),
    pytest.param("RI", MON, "17:59", False, id="RI-weekday-1759-open"),
    pytest.param("RI", MON, "18:00", True, id="RI-weekday-1800-quiet"),
    pytest.param("RI", SAT, "09:59", True, id="RI-saturday-0959-quiet"),
    pytest.param("RI", SAT, "10:00", False, id="RI-saturday-1000-open"),
    pytest.param("RI", SAT, "17:00", True, id="RI-saturday-1700-quiet"),
    pytest.param("RI", THANKSGIVING, "12:00", True, id="RI-no-holidays"),
    pytest.param("KY", MON, "09:59", True, id="KY-vendor-table-1000"),
    pytest.param("CT", MON, "09:00", False, id="verified-rows-unchanged"),
]


@pytest.mark.parametrize(("state", "day", "hhmm", "quiet"), UNVERIFIED)
def test_unverified_state_rows_apply_only_when_asked(state, day, hhmm, quiet):
    moment = local(NY, day, hhmm)
    assert rules.is_quiet(moment, [NY], [state], DEFAULT, unverified=True) is quiet
    assert rules.is_quiet(moment, [NY], [state], DEFAULT) is (state == "CT" and quiet)


ACCOUNT_WINDOWS = [
    pytest.param(T(21), T(8), Window(T(8), T(21)), id="default-is-federal"),
    pytest.param(T(20, 30), T(9), Window(T(9), T(20, 30)), id="stricter-account-window"),
    pytest.param(T(23), T(6), Window(T(8), T(21)), id="never-looser-than-federal"),
    pytest.param(T(0, 30), T(7), Window(T(8), T(21)), id="quiet-before-midnight-only"),
]


@pytest.mark.parametrize(("quiet_start", "quiet_end", "window"), ACCOUNT_WINDOWS)
def test_the_account_window_is_never_looser_than_federal(quiet_start, quiet_end, window):
    assert rules.account_window(quiet_start=quiet_start, quiet_end=quiet_end) == window


def test_a_stricter_account_window_narrows_every_state():
    window = rules.account_window(quiet_start=T(20, 30), quiet_end=T(9))
    assert rules.is_quiet(local(NY, MON, "08:30"), [NY], ["NJ"], window)
    assert rules.is_quiet(local(NY, MON, "20:45"), [NY], [""], window)
    assert not rules.is_quiet(local(NY, MON, "20:15"), [NY], ["VA"], window)


# Ambiguous locations: every candidate zone and every candidate state must allow it.
AMBIGUOUS = [
    # +1928283 (Navajo Nation) is Denver or Phoenix; in summer they are an hour apart.
    pytest.param(
        phone_zones("+19282830100"), [""], utc("2026-07-15T14:30"), True, id="928283-phoenix-0730"
    ),
    pytest.param(
        phone_zones("+19282830100"), [""], utc("2026-07-15T15:00"), False, id="928283-both-open"
    ),
    pytest.param(
        phone_zones("+19282830100"), [""], utc("2026-07-16T02:30"), False, id="928283-2030-1930"
    ),
    pytest.param(
        phone_zones("+19282830100"), [""], utc("2026-07-16T03:00"), True, id="928283-denver-2100"
    ),
    # Florida's panhandle is Central: the FL window in both zones.
    pytest.param([NY, CHI], ["FL"], utc("2026-11-24T00:30"), False, id="FL-two-zones-open"),
    pytest.param([NY, CHI], ["FL"], utc("2026-11-24T01:00"), True, id="FL-eastern-2000"),
    pytest.param([NY, CHI], ["FL"], utc("2026-11-23T13:30"), True, id="FL-central-0730"),
    # Two candidate states: the stricter of both windows.
    pytest.param([NY], ["NJ", "CT"], local(NY, MON, "08:30"), True, id="NJ-or-CT-0830"),
    pytest.param([NY], ["NJ", "CT"], local(NY, MON, "20:30"), True, id="NJ-or-CT-2030"),
    pytest.param([NY], ["NJ", "CT"], local(NY, MON, "12:00"), False, id="NJ-or-CT-noon"),
]


@pytest.mark.parametrize(("zones", "states", "moment", "quiet"), AMBIGUOUS)
def test_ambiguous_zones_and_states_take_the_most_restrictive(zones, states, moment, quiet):
    assert set(phone_zones("+19282830100")) == {DEN, PHX}
    assert rules.is_quiet(moment, zones, states, DEFAULT) is quiet


RECIPIENT_ZONES = [
    pytest.param(["America/Los_Angeles"], LA, "account_default", (NY,), id="unknown-uses-account"),
    pytest.param([DEN, PHX], DEN, "phone", (DEN, PHX), id="every-candidate"),
    pytest.param([], CHI, "address", (CHI,), id="no-candidates-best-guess"),
    pytest.param(["Etc/Unknown", "Mars/Base"], "", "phone", (NY,), id="no-valid-zone-account"),
]


@pytest.mark.parametrize(("candidates", "tz", "source", "zones"), RECIPIENT_ZONES)
def test_recipient_zones_fall_back_to_the_account_zone(candidates, tz, source, zones):
    got = rules.recipient_zones(candidates=candidates, timezone=tz, source=source, account_zone=NY)
    assert got == zones


# next_allowed: the earliest instant >= moment allowed everywhere (DST-correct).
NEXT_ALLOWED = [
    pytest.param([NY], [""], local(NY, MON, "12:00"), local(NY, MON, "12:00"), id="open-now"),
    pytest.param(
        [NY], [""], local(NY, MON, "22:15"), local(NY, "2026-11-24", "08:00"), id="after-2100"
    ),
    pytest.param([NY], ["CT"], local(NY, MON, "08:30"), local(NY, MON, "09:00"), id="CT-0900"),
    pytest.param([CHI], ["TX"], local(CHI, SAT, "22:00"), local(CHI, SUN, "12:00"), id="TX-sunday"),
    # US spring forward, Sunday 8 March 2026: 08:00 EDT is 12:00 UTC (not 13:00).
    pytest.param(
        [NY], [""], utc("2026-03-08T02:30"), utc("2026-03-08T12:00"), id="dst-spring-forward"
    ),
    pytest.param(
        [CHI], ["TX"], utc("2026-03-08T03:30"), utc("2026-03-08T17:00"), id="dst-spring-TX-noon"
    ),
    # Denver moves to MDT, Phoenix stays MST: Phoenix opens last.
    pytest.param(
        [DEN, PHX], [""], utc("2026-03-08T05:00"), utc("2026-03-08T15:00"), id="dst-spring-928283"
    ),
    # US fall back, Sunday 1 November 2026: 08:00 EST is 13:00 UTC (not 12:00).
    pytest.param([NY], [""], utc("2026-11-01T01:30"), utc("2026-11-01T13:00"), id="dst-fall-back"),
    pytest.param(
        [CHI], ["TX"], utc("2026-11-01T02:30"), utc("2026-11-01T18:00"), id="dst-fall-TX-noon"
    ),
    pytest.param(
        [NY, CHI], ["FL"], utc("2026-11-23T12:30"), utc("2026-11-23T14:00"), id="FL-central-last"
    ),
]


@pytest.mark.parametrize(("zones", "states", "moment", "expected"), NEXT_ALLOWED)
def test_next_allowed_is_the_earliest_instant_open_everywhere(zones, states, moment, expected):
    got = rules.next_allowed(moment, zones, states, DEFAULT)
    assert got == expected
    assert not rules.is_quiet(got, zones, states, DEFAULT)
    just_before = got - datetime.timedelta(seconds=1)
    assert got == moment or rules.is_quiet(just_before, zones, states, DEFAULT)


def test_next_allowed_skips_sundays_and_holidays_for_rhode_island_when_asked():
    # Thursday 24 Dec 18:30 EST: past 18:00; Friday is Christmas; Saturday opens at 10:00.
    moment = utc("2026-12-24T23:30")
    assert rules.next_allowed(moment, [NY], ["RI"], DEFAULT, unverified=True) == utc(
        "2026-12-26T15:00"
    )
    # Saturday 17:30: no Sunday, so Monday 09:00.
    saturday = local(NY, SAT, "17:30")
    assert rules.next_allowed(saturday, [NY], ["RI"], DEFAULT, unverified=True) == local(
        NY, MON, "09:00"
    )


NEVER = [
    pytest.param(T(7), T(6), "", id="account-allows-only-0600-0700"),
    pytest.param(T(9), T(8), "CT", id="account-0800-0900-vs-CT-0900"),
]


@pytest.mark.parametrize(("quiet_start", "quiet_end", "state"), NEVER)
def test_next_allowed_is_none_when_no_time_is_left(quiet_start, quiet_end, state):
    window = rules.account_window(quiet_start=quiet_start, quiet_end=quiet_end)
    assert rules.next_allowed(local(NY, MON, "12:00"), [NY], [state], window) is None


WALL_CLOCK = [
    pytest.param("2026-03-08", T(2, 30), utc("2026-03-08T07:00"), id="spring-gap-is-the-jump"),
    pytest.param("2026-03-08", T(8), utc("2026-03-08T12:00"), id="spring-day-0800-edt"),
    pytest.param("2026-11-01", T(1, 30), utc("2026-11-01T05:30"), id="fall-back-first-0130"),
    pytest.param("2026-11-01", T(8), utc("2026-11-01T13:00"), id="fall-day-0800-est"),
]


@pytest.mark.parametrize(("day", "at", "expected"), WALL_CLOCK)
def test_wall_clock_to_instant_around_dst_changes(day, at, expected):
    assert rules.wall_to_utc(datetime.date.fromisoformat(day), at, NY) == expected


# --- Frequency caps ----------------------------------------------------------------------

CUSTOM_DAILY = {"frequency_cap": {"messages": 5, "days": 1}}

CAPS = [
    # (state, {window hours: messages already sent}, campaign compliance config, one more ok?)
    pytest.param("CA", {168: 2}, {}, True, id="default-3-per-7-days-2-sent"),
    pytest.param("CA", {168: 3}, {}, False, id="default-3-per-7-days-3-sent"),
    pytest.param("FL", {168: 3, 24: 0}, {}, False, id="default-applies-in-FL-too"),
    pytest.param("CA", {24: 4}, CUSTOM_DAILY, True, id="campaign-cap-5-per-day-4-sent"),
    pytest.param("CA", {24: 5}, CUSTOM_DAILY, False, id="campaign-cap-5-per-day-5-sent"),
    pytest.param("FL", {24: 3}, CUSTOM_DAILY, False, id="FL-3-per-24h-over-campaign-cap"),
    pytest.param("OK", {24: 3}, CUSTOM_DAILY, False, id="OK-3-per-24h"),
    pytest.param("MD", {24: 3}, CUSTOM_DAILY, False, id="MD-3-per-24h"),
    pytest.param("OR", {24: 3}, CUSTOM_DAILY, False, id="OR-3-per-24h"),
    pytest.param("OR", {24: 2}, CUSTOM_DAILY, True, id="OR-2-in-24h-ok"),
    pytest.param("WA", {24: 3}, CUSTOM_DAILY, True, id="WA-has-no-cap"),
    pytest.param("NJ", {24: 3}, CUSTOM_DAILY, True, id="NJ-no-cap-vendor-claim-wrong"),
]


@pytest.mark.parametrize(("state", "sent", "config", "ok"), CAPS)
def test_frequency_caps_per_state_and_default(state, sent, config, ok):
    assert rules.within_cap(sent_by_hours=sent, state=state, config=config) is ok


def test_state_caps_the_default_already_implies_are_not_counted_twice():
    assert rules.caps_to_count() == [(Cap(3, 168), None)]
    assert rules.caps_to_count(CUSTOM_DAILY) == [
        (Cap(5, 24), None),
        (Cap(3, 24), ("FL", "OK", "MD", "OR")),
    ]


BUDGET = [
    pytest.param(0, 5, id="fresh-day-5"),
    pytest.param(4, 1, id="fifth-still-allowed"),
    pytest.param(5, 0, id="budget-spent"),
    pytest.param(9, 0, id="never-negative"),
]


@pytest.mark.parametrize(("sent_today", "left"), BUDGET)
def test_automation_daily_budget_is_a_loop_guard(sent_today, left):
    assert rules.automation_budget_left(sent_today=sent_today) == left


CONFIG_ERRORS = [
    pytest.param({}, set(), id="empty-ok"),
    pytest.param(CUSTOM_DAILY, set(), id="custom-cap-ok"),
    pytest.param({"unverified_state_rules": True}, set(), id="unverified-flag-ok"),
    pytest.param({"frequency_cap": {"messages": 0, "days": 7}}, {"frequency_cap"}, id="zero"),
    pytest.param({"frequency_cap": {"messages": 3}}, {"frequency_cap"}, id="missing-days"),
    pytest.param({"frequency_cap": {"messages": "3", "days": 7}}, {"frequency_cap"}, id="text"),
    pytest.param({"unverified_state_rules": "yes"}, {"unverified_state_rules"}, id="not-bool"),
    pytest.param({"quiet": False}, {"quiet"}, id="unknown-key"),
]


@pytest.mark.parametrize(("config", "fields"), CONFIG_ERRORS)
def test_compliance_config_errors_name_the_field(config, fields):
    assert set(rules.cap_config_errors(config)) == fields


# --- Mode gating ---------------------------------------------------------------------------

ALL_KINDS = {"bulk", "scheduled", "automation", "manual", "keyword_reply"}
# (mode, consent status) -> the send kinds allowed (keyword replies to an opted-out
# number: see the reply-kind rows below).
MODE_MATRIX = [
    pytest.param("relationship", "opted_in", ALL_KINDS, id="relationship-opted-in-all"),
    pytest.param("relationship", "none", {"keyword_reply"}, id="relationship-none-replies-only"),
    pytest.param("relationship", "pending", {"keyword_reply"}, id="relationship-pending"),
    pytest.param("relationship", "opted_out", set(), id="relationship-opted-out-nothing"),
    pytest.param("campaign", "opted_in", ALL_KINDS, id="campaign-opted-in-all"),
    pytest.param("campaign", "none", {"manual", "keyword_reply"}, id="campaign-voters-manual"),
    pytest.param("campaign", "pending", {"manual", "keyword_reply"}, id="campaign-pending"),
    pytest.param("campaign", "opted_out", set(), id="campaign-opted-out-nothing"),
]


@pytest.mark.parametrize(("mode", "status", "allowed"), MODE_MATRIX)
def test_mode_gating_matrix(mode, status, allowed):
    got = {kind for kind in ALL_KINDS if rules.mode_allows(mode, status, kind)}
    assert got == allowed


REPLY_KINDS = [
    pytest.param("opt_out_confirmation", True, id="stop-confirmation-reaches-opted-out"),
    pytest.param("help_reply", True, id="help-reaches-opted-out"),
    pytest.param("opt_in_confirmation", False, id="start-confirmation-does-not"),
    pytest.param(None, False, id="unnamed-reply-does-not"),
]


@pytest.mark.parametrize(("reply_kind", "allowed"), REPLY_KINDS)
def test_only_the_ctia_replies_reach_an_opted_out_number(reply_kind, allowed):
    for mode in ("relationship", "campaign"):
        got = rules.mode_allows(mode, "opted_out", "keyword_reply", reply_kind=reply_kind)
        assert got is allowed


def test_the_commit_gate_is_the_rule():
    assert rules.statuses_allowed("relationship", "bulk") == ["opted_in"]
    assert rules.statuses_allowed("campaign", "bulk") == ["opted_in"]
    assert rules.statuses_allowed("campaign", "automation") == ["opted_in"]
    assert set(rules.statuses_allowed("campaign", "manual")) == {"none", "pending", "opted_in"}


@pytest.mark.parametrize(
    ("mode", "kind"), [("relationship", "broadcast"), ("cross", "bulk")], ids=["kind", "mode"]
)
def test_unknown_modes_and_kinds_are_refused(mode, kind):
    with pytest.raises(ValueError, match="must be"):
        rules.mode_allows(mode, "opted_in", kind)


def test_every_state_row_cites_its_source_and_covers_the_week():
    for rule in rules.STATE_RULES.values():
        assert rule.source.startswith("§3.1")
        assert len(rule.days) == 7
        assert all(w is None or (rules.FEDERAL.start <= w.start < w.end) for w in rule.days)
    unverified = {s for s, r in rules.STATE_RULES.items() if not r.covers_texts}
    assert "RI" in unverified and not unverified & {"FL", "OK", "MD", "WA", "OR", "CT", "TX"}
