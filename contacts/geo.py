"""Where a recipient is, for quiet hours: timezone candidates from ZIP, state and phone.

Order of trust (compliance reference §4.3): the address (ZIP, else state) gives the best
guess; the phone's NPA-NXX adds candidates, since the number shows where it was assigned
and courts and several states treat that as a presumption. Quiet-hours rules later apply
the most restrictive of all candidates. With nothing usable, the account default is used
and the contact is flagged so Tech Check can count them.
"""

import datetime
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
import zipcodes
from phonenumbers import geocoder
from phonenumbers import timezone as phone_timezone

from .models import TimezoneSource

# More zones than this for one number means a non-geographic number (toll-free gives 42).
_MAX_PHONE_ZONES = 4

STATE_ZONES: dict[str, tuple[str, ...]] = {
    "AL": ("America/Chicago",),
    "AK": ("America/Anchorage", "America/Adak"),
    "AZ": ("America/Phoenix", "America/Denver"),
    "AR": ("America/Chicago",),
    "CA": ("America/Los_Angeles",),
    "CO": ("America/Denver",),
    "CT": ("America/New_York",),
    "DE": ("America/New_York",),
    "DC": ("America/New_York",),
    "FL": ("America/New_York", "America/Chicago"),
    "GA": ("America/New_York",),
    "HI": ("Pacific/Honolulu",),
    "ID": ("America/Boise", "America/Los_Angeles"),
    "IL": ("America/Chicago",),
    "IN": ("America/Indiana/Indianapolis", "America/Chicago"),
    "IA": ("America/Chicago",),
    "KS": ("America/Chicago", "America/Denver"),
    "KY": ("America/New_York", "America/Chicago"),
    "LA": ("America/Chicago",),
    "ME": ("America/New_York",),
    "MD": ("America/New_York",),
    "MA": ("America/New_York",),
    "MI": ("America/Detroit", "America/Chicago"),
    "MN": ("America/Chicago",),
    "MS": ("America/Chicago",),
    "MO": ("America/Chicago",),
    "MT": ("America/Denver",),
    "NE": ("America/Chicago", "America/Denver"),
    "NV": ("America/Los_Angeles", "America/Denver"),
    "NH": ("America/New_York",),
    "NJ": ("America/New_York",),
    "NM": ("America/Denver",),
    "NY": ("America/New_York",),
    "NC": ("America/New_York",),
    "ND": ("America/Chicago", "America/Denver"),
    "OH": ("America/New_York",),
    "OK": ("America/Chicago",),
    "OR": ("America/Los_Angeles", "America/Boise"),
    "PA": ("America/New_York",),
    "RI": ("America/New_York",),
    "SC": ("America/New_York",),
    "SD": ("America/Chicago", "America/Denver"),
    "TN": ("America/Chicago", "America/New_York"),
    "TX": ("America/Chicago", "America/Denver"),
    "UT": ("America/Denver",),
    "VT": ("America/New_York",),
    "VA": ("America/New_York",),
    "WA": ("America/Los_Angeles",),
    "WV": ("America/New_York",),
    "WI": ("America/Chicago",),
    "WY": ("America/Denver",),
    "PR": ("America/Puerto_Rico",),
    "VI": ("America/St_Thomas",),
    "GU": ("Pacific/Guam",),
    "AS": ("Pacific/Pago_Pago",),
    "MP": ("Pacific/Saipan",),
}


@dataclass(frozen=True)
class TimezoneGuess:
    timezone: str
    candidates: tuple[str, ...]
    source: str


@cache
def _zip_index() -> dict[str, tuple[str, str]]:
    # zipcodes scans a list per lookup; one dict per process makes imports cheap.
    # The zipcodes data has a few non-IANA names (e.g. "Napakiak" for 99634): skip them
    # so every stored zone loads in zoneinfo.
    valid = available_timezones()
    return {
        z["zip_code"]: (z["timezone"], z["state"])
        for z in zipcodes.list_all()
        if z.get("timezone") in valid
    }


def zip_zone(zip_code: str) -> str | None:
    digits = (zip_code or "").strip()[:5]
    if len(digits) != 5 or not digits.isdigit():
        return None
    found = _zip_index().get(digits)
    return found[0] if found else None


def state_for_zip(zip_code: str) -> str | None:
    found = _zip_index().get((zip_code or "").strip()[:5])
    return found[1] if found else None


def phone_zones(e164: str) -> tuple[str, ...]:
    try:
        parsed = phonenumbers.parse(e164, "US")
    except phonenumbers.NumberParseException:
        return ()
    zones = tuple(z for z in phone_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown")
    return zones if len(zones) <= _MAX_PHONE_ZONES else ()


def guess_timezone(*, phone: str, state: str, zip_code: str, default: str) -> TimezoneGuess:
    address: tuple[str, ...] = ()
    zone = zip_zone(zip_code)
    if zone:
        address = (zone,)
    elif state:
        address = STATE_ZONES.get(state.upper(), ())
    from_phone = phone_zones(phone)
    if address:
        # Within a multi-zone state the phone's zone is the better single guess.
        shared = [z for z in from_phone if z in address]
        primary = shared[0] if len(address) > 1 and shared else address[0]
        candidates = tuple(dict.fromkeys(address + from_phone))
        return TimezoneGuess(primary, candidates, TimezoneSource.ADDRESS)
    if from_phone:
        return TimezoneGuess(from_phone[0], from_phone, TimezoneSource.PHONE)
    return TimezoneGuess(default, (default,), TimezoneSource.ACCOUNT_DEFAULT)


# One zone per UTC offset from +14 to -11, without DST where possible, so that at any
# moment several of them are in the middle of the day.
WORLD_ZONES = (
    "Pacific/Kiritimati",
    "Pacific/Tongatapu",
    "Pacific/Tarawa",
    "Pacific/Guadalcanal",
    "Australia/Brisbane",
    "Asia/Tokyo",
    "Asia/Shanghai",
    "Asia/Bangkok",
    "Asia/Dhaka",
    "Asia/Karachi",
    "Asia/Dubai",
    "Europe/Istanbul",
    "Africa/Johannesburg",
    "Africa/Lagos",
    "Africa/Abidjan",
    "Atlantic/Cape_Verde",
    "America/Noronha",
    "America/Sao_Paulo",
    "America/La_Paz",
    "America/Bogota",
    "America/Costa_Rica",
    "America/Phoenix",
    "Pacific/Pitcairn",
    "Pacific/Gambier",
    "Pacific/Honolulu",
    "Pacific/Pago_Pago",
)


def zone_at_local_hour(hour: float, at: datetime.datetime | None = None) -> str:
    """The zone of WORLD_ZONES whose local time is nearest `hour` (13.5: 13:30) at `at`
    (default now). Tests and benchmarks, which run at any hour, use it to place
    recipients where it is day (or night) right now."""
    at = at or datetime.datetime.now(datetime.UTC)

    def distance(name: str) -> float:
        local = at.astimezone(ZoneInfo(name))
        return abs(local.hour + local.minute / 60 - hour)

    return min(WORLD_ZONES, key=distance)


# Full names as a person (or a geocoder) writes them, letters only, lower case.
STATE_NAMES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "districtofcolumbia": "DC",
    "florida": "FL", "georgia": "GA", "hawaii": "HI", "idaho": "ID", "illinois": "IL",
    "indiana": "IN", "iowa": "IA", "kansas": "KS", "kentucky": "KY", "louisiana": "LA",
    "maine": "ME", "maryland": "MD", "massachusetts": "MA", "michigan": "MI",
    "minnesota": "MN", "mississippi": "MS", "missouri": "MO", "montana": "MT",
    "nebraska": "NE", "nevada": "NV", "newhampshire": "NH", "newjersey": "NJ",
    "newmexico": "NM", "newyork": "NY", "northcarolina": "NC", "northdakota": "ND",
    "ohio": "OH", "oklahoma": "OK", "oregon": "OR", "pennsylvania": "PA",
    "rhodeisland": "RI", "southcarolina": "SC", "southdakota": "SD", "tennessee": "TN",
    "texas": "TX", "utah": "UT", "vermont": "VT", "virginia": "VA", "washington": "WA",
    "westvirginia": "WV", "wisconsin": "WI", "wyoming": "WY", "puertorico": "PR",
}  # fmt: skip


def state_from_name(text: str) -> str:
    """A state code from a name ("Florida", "New York, NY", "Washington D.C."), or ""."""
    if not text:
        return ""
    tail = text.rsplit(",", 1)[-1].strip()
    if len(tail) == 2 and tail.isalpha() and tail.upper() in STATE_ZONES:
        return tail.upper()
    key = "".join(ch for ch in text.lower() if ch.isalpha())
    if key.startswith("washingtondc"):
        return "DC"
    if key == "washingtonstate":
        return "WA"
    return STATE_NAMES.get(key, "")


@cache
def _area_code_state(prefix: str) -> str:
    try:
        number = phonenumbers.parse(f"{prefix}5550100")
    except phonenumbers.NumberParseException:
        return ""
    return state_from_name(geocoder.description_for_number(number, "en"))


def state_for_phone(phone: str) -> str:
    """The state a US number's area code was assigned in ("" when there is none, as for
    toll-free numbers). FL, OK and CT presume a number with an in-state area code belongs
    to someone in the state, and OR lets a sender rely on it (compliance.md §3.1), so
    state rules apply to it as well as to the address's state."""
    if not phone.startswith("+1") or len(phone) < 5:
        return ""
    return _area_code_state(phone[:5])


@cache
def area_code_prefixes(state: str) -> tuple[str, ...]:
    """Every "+1NPA" prefix whose area code belongs to `state` (for set-based rules)."""
    return tuple(
        prefix
        for prefix in (f"+1{npa}" for npa in range(200, 1000))
        if _area_code_state(prefix) == state
    )
