"""Demo data for `make run`: account `demo`, user demo/demo, contacts and numbers.

Idempotent: running it again changes nothing that already exists. Phones use the
fictional 555-01XX range so nothing real is ever texted, even on a real provider.
"""

import random

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Account, Membership, Role
from compliance.consent import consent_record
from compliance.models import ConsentMethod, ConsentSource
from contacts.models import Contact, Pool, SmsStatus, Tribe
from contacts.services import contact_upsert
from contacts.tribes import tribe_create
from phone_numbers.models import NumberKind, PhoneNumber, RegistrationStatus

DEMO_USERS = [
    ("demo", Role.ADMIN),
    ("mara", Role.MANAGER),
    ("finn", Role.FIELD),
    ("vera", Role.VIEWER),
]
# (e164, kind, state, mps)
DEMO_NUMBERS = [
    ("+15035550100", NumberKind.LONG, "OR", 10),
    ("+15415550100", NumberKind.LONG, "OR", 10),
    ("+12065550100", NumberKind.LONG, "WA", 10),
    ("+18335550100", NumberKind.TOLL_FREE, "", 20),
    ("55501", NumberKind.SHORT, "", 100),
]
FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Iris",
    "Jamal",
    "Kai",
    "Lena",
    "Marco",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tariq",
    "Uma",
    "Victor",
    "Wen",
    "Xavier",
    "Yara",
    "Zoe",
]
LAST = [
    "Alvarez",
    "Brooks",
    "Chen",
    "Diaz",
    "Evans",
    "Foster",
    "Garcia",
    "Huang",
    "Ito",
    "Jensen",
    "Kim",
    "Lopez",
    "Miller",
    "Nguyen",
    "Ortiz",
    "Patel",
    "Reyes",
    "Singh",
    "Torres",
    "Walker",
    "Young",
]
# (state, city, zip, area codes)
PLACES = [
    ("OR", "Portland", "97205", ["503", "971"]),
    ("OR", "Eugene", "97401", ["541"]),
    ("OR", "Ontario", "97914", ["541"]),  # Mountain time corner of Oregon
    ("WA", "Seattle", "98101", ["206", "425"]),
    ("ID", "Boise", "83702", ["208"]),
    ("FL", "Pensacola", "32501", ["850"]),
    ("NY", "New York", "10001", ["212"]),
    ("", "", "", ["305", "405", "860", "512"]),  # phone only: zone from the area code
]


_CONSENTED = (SmsStatus.OPTED_IN, SmsStatus.PENDING)
DEMO_CONSENT_LANGUAGE = (
    "Yes, text me updates from Demo for Oregon. Msg frequency varies. Msg & data rates may "
    "apply. Reply HELP for help, STOP to opt out."
)


DEMO_TRIBES = [
    ("Volunteers", "relationship", {"field": "custom.volunteer", "op": "eq", "value": True}),
    ("Portland", "cross", {"field": "city", "op": "eq", "value": "Portland"}),
    ("Precinct P-101", "cross", {"field": "custom.precinct", "op": "eq", "value": "P-101"}),
    ("Voter file", "campaign", {"field": "pool", "op": "eq", "value": "voter"}),
]


# Texts people sent the demo's first long code: they arrive through the real inbound
# path (a simulated carrier webhook, stored and applied), so the inbox has threads.
DEMO_REPLIES = [
    (0, "Count me in for Saturday! Can I bring my sister?"),
    (1, "What time does the canvass start?"),
    (2, "Thanks for the reminder, already voted 🗳️"),
    (None, "who is this?"),  # a phone the account does not know: "Unknown sender"
]
DEMO_STRANGER = "+13605550199"  # no demo contact has area code 360


def demo_draft_ensure(*, account: Account) -> None:
    """A draft for the Compose, Recipients and Tech Check tabs (made once, by name)."""
    from texting.models import Campaign

    if Campaign.objects.filter(account=account, name="Saturday canvass").exists():
        return
    volunteers = Tribe.objects.filter(account=account, name="Volunteers").first()
    longs = PhoneNumber.objects.filter(account=account, kind=NumberKind.LONG)
    Campaign.objects.create(
        account=account,
        name="Saturday canvass",
        description="Reminder to volunteers, two days ahead",
        body=(
            "Hi {first_name|there}! We knock doors in your precinct Saturday at 10am. "
            "Details: https://example.org/events/saturday-canvass"
        ),
        audience={"tribe_id": volunteers.pk} if volunteers else {},
        sender_ids=list(longs.values_list("pk", flat=True)),
    )


def demo_replies_ensure(*, account: Account) -> None:
    """A few inbound texts, once: each has a stable provider id, and the inbound path
    applies a message id it has seen only once."""
    from providers.services import webhook_event_process, webhook_event_store
    from providers.simulator import events

    ours = DEMO_NUMBERS[0][0]
    people = list(
        Contact.objects.filter(account=account, sms_status=SmsStatus.OPTED_IN).order_by("id")[:3]
    )
    for who, text in DEMO_REPLIES:
        if who is not None and who >= len(people):
            continue
        phone = DEMO_STRANGER if who is None else people[who].phone
        envelope = events.message_received(
            message_id=events.stable_id("demo-reply", account.slug, phone, text),
            event_id=events.stable_id("demo-reply-event", account.slug, phone, text),
            from_=phone,
            to=ours,
            text=text,
            parts=1,
            encoding="UCS-2" if not text.isascii() else "GSM-7",
        )
        event_pk = webhook_event_store(envelope=envelope)
        if event_pk is not None:  # None: stored by an earlier seed
            webhook_event_process(event_pk=event_pk)


def demo_consent_record(*, contact: Contact, status: str) -> None:
    """The demo signup form's consent: single opt-in for opted-in contacts, double (still
    waiting for YES) for pending ones. Idempotent: callers pass contacts without one."""
    consent_record(
        contact=contact,
        source_type=ConsentSource.FORM,
        method=ConsentMethod.DOUBLE if status == SmsStatus.PENDING else ConsentMethod.SINGLE,
        source_ref="demo signup form (demo.example/join)",
        consent_language=DEMO_CONSENT_LANGUAGE,
        captured_at=contact.created_at,
        user_agent="seed_demo",
    )


class Command(BaseCommand):
    help = "Create the demo account, users (password 'demo'), contacts and numbers."

    @transaction.atomic
    def handle(self, *args, **options):
        account, created = Account.objects.get_or_create(
            slug="demo",
            defaults={"name": "Demo for Oregon", "timezone": "America/Los_Angeles", "balance": 250},
        )
        User = get_user_model()
        for username, role in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_user(username=username, password="demo")
            Membership.objects.get_or_create(user=user, account=account, defaults={"role": role})

        for e164, kind, state, mps in DEMO_NUMBERS:
            PhoneNumber.objects.get_or_create(
                e164=e164,
                defaults={
                    "account": account,
                    "kind": kind,
                    "state": state,
                    "mps": mps,
                    "registration_status": RegistrationStatus.ACTIVE,
                },
            )

        rng = random.Random(2026)
        made = 0
        used: set[str] = set(
            Contact.objects.filter(account=account).values_list("phone", flat=True)
        )
        for i in range(240):
            state, city, zip_code, codes = PLACES[i % len(PLACES)]
            phone = f"+1{rng.choice(codes)}55501{rng.randrange(100):02d}"
            first, last = rng.choice(FIRST), rng.choice(LAST)
            status = rng.choices(
                [SmsStatus.OPTED_IN, SmsStatus.NONE, SmsStatus.PENDING, SmsStatus.OPTED_OUT],
                [70, 20, 5, 5],
            )[0]
            pool = Pool.VOTER if i % 3 == 0 else Pool.CONTACT
            if phone in used:
                continue
            used.add(phone)
            contact, was_created = contact_upsert(
                account=account,
                phone=phone,
                data={
                    "first_name": first,
                    "last_name": last,
                    "city": city,
                    "state": state,
                    "zip": zip_code,
                    "pool": pool,
                    "custom_fields": {"volunteer": i % 5 == 0, "precinct": f"P-{100 + i % 17}"},
                },
            )
            if was_created:
                if status in _CONSENTED:
                    demo_consent_record(contact=contact, status=status)
                elif status == SmsStatus.OPTED_OUT:
                    # Seed data only: a real opt-out arrives as a STOP (texting.keywords
                    # writes its consent record); the demo status is set directly.
                    Contact.objects.filter(pk=contact.pk).update(sms_status=status)
                made += 1
        # Demo contacts seeded before consent records existed get theirs (once).
        for contact in Contact.objects.filter(
            account=account, sms_status__in=_CONSENTED, consents__isnull=True
        ):
            demo_consent_record(contact=contact, status=contact.sms_status)
        # Demo Tribes (saved filters), made once each by name.
        for name, mode, condition in DEMO_TRIBES:
            if not Tribe.objects.filter(account=account, name=name).exists():
                tribe_create(
                    account=account, actor=None, name=name, mode=mode, filter={"all": [condition]}
                )
        # The six starter message templates (idempotent).
        from texting.message_templates import starter_templates_ensure

        starter_templates_ensure(account=account)
        demo_draft_ensure(account=account)
        demo_replies_ensure(account=account)
        verb = "Created" if created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} demo account: {len(DEMO_USERS)} users (password 'demo'), "
                f"{len(DEMO_NUMBERS)} numbers, {made} new contacts."
            )
        )
