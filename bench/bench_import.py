"""Bench: a 50,000-row contact CSV imported as the worker does it (issue 5, ≤ 30 s).

Setup (not timed): 15,000 existing contacts (30% of the file's rows match one), and a
Windows-1252 CSV of 50,000 data rows as a spreadsheet exports it: the header in an odd
order (phone in the middle, a custom column first), Latin-1 names (José, Zoë, Müller),
quoted fields with commas and line breaks, a blank line every thousand rows, about 3%
invalid phones and 2% repeats of the row above in another format.

Timed: what an upload costs, end to end: `contacts.imports.import_create` (the request:
reading the file, finding the phone column, counting rows) and then the task function
`contacts.tasks.import_contacts` called synchronously, as the worker runs it (parse,
normalise, chunks of 5,000 upserted with the list Tribe's members and the progress).
Checked: the counts add up to the rows and match what the generator made, and the
contacts and list members in the database are what the import reports.
"""

from __future__ import annotations

import csv
import io
import time

from . import fixtures
from .config import BenchConfig
from .report import BenchResult, Target

ROWS = 50_000
EXISTING = 15_000  # 30% of the rows match an existing contact
NAMES = ["José", "Zoë", "François", "Müller", "Ñúñez", "Renée", "Smith", "O'Brien", "Sørensen"]
ZIPS = ["97201", "97301", "80202", "", "97405", "98101", ""]


def make_csv() -> tuple[bytes, dict[str, int]]:
    """The file and the counts a correct import reports."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["Precinct", "Last Name", "ZIP", "Mobile Phone", "First Name", "City", "Notes"])
    expected = {"invalid": 0, "duplicates": 0, "updated": 0, "created": 0, "total": 0}
    matched = new = 0
    previous = ""
    for i in range(ROWS):
        if i and i % 1000 == 0:
            out.write("\r\n")  # a blank line: skipped, not counted
        if i % 33 == 7:
            phone = "555-01" if i % 2 else "n/a"
            expected["invalid"] += 1
        elif i % 50 == 11 and previous:
            phone = "+1 " + previous  # the row above again, typed differently
            expected["duplicates"] += 1
        elif i % 10 in (0, 1, 2, 3) and matched < EXISTING:
            digits = f"303{2000000 + matched}"  # fixtures.make_contacts' phones
            phone = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
            matched += 1
            expected["updated"] += 1
        else:
            digits = f"971{4000000 + new}"
            phone = f"{digits[:3]}.{digits[3:6]}.{digits[6:]}"
            new += 1
            expected["created"] += 1
        if not phone.startswith(("555", "n/a", "+1 ")):
            previous = phone
        name = NAMES[i % len(NAMES)]
        note = (
            "Knocked, left flyer" if i % 7 == 0 else ("Call back\nafter 6" if i % 11 == 0 else "")
        )
        writer.writerow(
            [f"P-{i % 120}", NAMES[(i + 3) % len(NAMES)], ZIPS[i % len(ZIPS)], phone, name,
             "Portland", note]
        )  # fmt: skip
        expected["total"] += 1
    return out.getvalue().encode("cp1252"), expected


def run(cfg: BenchConfig, _manager) -> BenchResult:
    from django.db import connection

    from contacts import imports
    from contacts.models import Contact, ContactImport, TribeMember
    from contacts.tasks import import_contacts

    result = BenchResult("import")
    fixtures.wipe()
    account, user = fixtures.make_account()
    t = time.perf_counter()
    fixtures.make_contacts(account, EXISTING)
    data, expected = make_csv()
    print(
        f"  setup: {EXISTING:,} contacts, a {len(data) / 1e6:.1f} MB CSV of {ROWS:,} rows"
        f" in {time.perf_counter() - t:.1f} s"
    )

    connection.close()  # a fresh connection, as a request would have
    started = time.perf_counter()
    imp = imports.import_create(
        account=account, actor=user, data=data, filename="bench.csv", tribe_name="Bench list"
    )
    accepted = time.perf_counter() - started
    t = time.perf_counter()
    import_contacts(imp.pk)  # as the worker runs it
    worker = time.perf_counter() - t
    seconds = time.perf_counter() - started
    imp = ContactImport.objects.get(pk=imp.pk)
    counts = {k: getattr(imp, k) for k in ("total", "created", "updated", "invalid", "duplicates")}
    print(
        f"  upload accepted in {accepted:.2f} s, worker {worker:.2f} s, total {seconds:.2f} s;"
        f" {imp.status}: {counts} (expected {expected})"
    )
    contacts = Contact.objects.filter(account=account).count()
    members = TribeMember.objects.filter(tribe_id=imp.tribe_id).count()
    adds_up = (
        imp.status == "done"
        and imp.processed == imp.total == ROWS
        and imp.created + imp.updated + imp.invalid + imp.duplicates == imp.total
        and counts == {k: expected[k] for k in counts}
        and contacts == EXISTING + imp.created
        and members == imp.created + imp.updated
    )
    result.figures = {"import_50k_seconds": round(seconds, 3), "import_adds_up": adds_up}
    result.details = {
        "upload_accepted_seconds": round(accepted, 3),
        "worker_seconds": round(worker, 3),
        "file_bytes": len(data),
        "counts": counts,
        "expected": expected,
        "contacts_after": contacts,
        "list_members": members,
    }
    result.targets = [
        Target(f"import a {ROWS:,}-row CSV", "import_50k_seconds", round(seconds, 3), "<=", 30.0, " s"),
        Target("import: counts add up and match the file", "import_adds_up", adds_up, "==", True),
    ]  # fmt: skip
    return result
