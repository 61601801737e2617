"""Contact imports: CSV files in the background, pasted numbers at once (contacts.imports,
contacts.tasks, contacts.import_api)."""

import codecs
import csv
import io
import random

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts import imports
from contacts.models import Contact, ContactImport, Tribe, TribeMember
from contacts.tasks import import_contacts
from tests.factories import api_client, make_account, make_contact, make_member

pytestmark = pytest.mark.django_db


def run_import(account, data: bytes, **kwargs) -> ContactImport:
    """Upload as the API does, then run the task as the worker would."""
    imp = imports.import_create(account=account, actor=None, data=data, **kwargs)
    import_contacts(imp.pk)
    imp.refresh_from_db()
    return imp


def test_header_in_any_order_maps_fields_and_keeps_the_rest_as_custom(account):
    data = (
        b"Zip Code,Precinct #,Last Name,Mobile,First Name,City\n"
        b"97201,12,Alvarez,(503) 555-0100,Ana,Portland\n"
    )
    imp = run_import(account, data)
    assert (imp.status, imp.total, imp.processed, imp.created, imp.updated) == (
        "done",
        1,
        1,
        1,
        0,
    )
    ana = Contact.objects.get(account=account, phone="+15035550100")
    assert (ana.first_name, ana.last_name, ana.city, ana.zip, ana.state) == (
        "Ana",
        "Alvarez",
        "Portland",
        "97201",
        "OR",  # from the ZIP
    )
    assert ana.custom_fields == {"precinct": "12"}
    assert ana.timezone == "America/Los_Angeles" and ana.timezone_source == "address"
    assert ana.sms_status == "none"  # an import never invents consent
    assert imp.data is None  # the upload is not kept once imported


def test_utf8_bom_and_windows_1252_names_both_read(account):
    bom = "\ufeffphone,first_name\n5035550101,José\n".encode()
    cp1252 = "phone,first_name,last_name\n5035550102,Zoë,Müller\n".encode("cp1252")
    assert run_import(account, bom).created == 1
    assert run_import(account, cp1252).created == 1
    assert Contact.objects.get(phone="+15035550101").first_name == "José"
    zoe = Contact.objects.get(phone="+15035550102")
    assert (zoe.first_name, zoe.last_name) == ("Zoë", "Müller")
    # A UTF-8 BOM, then Windows-1252 text: the BOM is not read into the header.
    mixed = codecs.BOM_UTF8 + "first_name,phone\nRenée,5035550103\n".encode("cp1252")
    assert run_import(account, mixed).created == 1
    assert Contact.objects.get(phone="+15035550103").first_name == "Renée"


def test_quoted_fields_commas_newlines_and_blank_lines(account):
    data = (
        b"first_name,street,phone\n"
        b"\n"
        b'"Smith, Jr.","12 Oak St\nApt 4",503-555-0103\n'
        b"\n"
        b'Ben,"1 Elm, Unit 2",503-555-0104\n'
        b"Cy,,not-a-phone\n"
    )
    imp = run_import(account, data)
    assert (imp.total, imp.created, imp.invalid) == (3, 2, 1)
    smith = Contact.objects.get(phone="+15035550103")
    assert (smith.first_name, smith.street) == ("Smith, Jr.", "12 Oak St\nApt 4")
    assert Contact.objects.get(phone="+15035550104").street == "1 Elm, Unit 2"
    # Rows as a spreadsheet numbers them: header 1, blank 2, Smith 3, blank 4, Ben 5, Cy 6.
    assert imp.errors == [
        {"row": 6, "value": "not-a-phone", "reason": "'not-a-phone' is not a phone number."}
    ]


def test_duplicates_and_invalid_phones_are_reported_by_row_and_imported_once(account):
    data = (
        b"phone,first_name\n"
        b"503-555-0105,Ana\n"
        b"555,Short\n"
        b"+1 (503) 555-0105,Ana again\n"
        b",Nobody\n"
        b"5035550106,Ben\n"
    )
    imp = run_import(account, data)
    assert (imp.total, imp.created, imp.invalid, imp.duplicates) == (5, 2, 2, 1)
    assert imp.processed == imp.total
    assert [(e["row"], e["reason"][:12]) for e in imp.errors] == [
        (3, "'555' is not"),
        (4, "+15035550105"),
        (5, "No phone num"),
    ]
    assert "first on row 2" in imp.errors[1]["reason"]
    assert Contact.objects.filter(account=account).count() == 2
    assert Contact.objects.get(phone="+15035550105").first_name == "Ana"
    report = list(csv.reader(io.StringIO(imports.import_error_report(imp))))
    assert report[0] == ["row", "phone", "reason"]
    assert [r[:2] for r in report[1:]] == [["3", "555"], ["4", "+1 (503) 555-0105"], ["5", ""]]


def messy_file(rows: int = 5000, seed: int = 5000):
    """A spreadsheet export as they come: a UTF-8 BOM, then Windows-1252 (Latin-1) text
    with accented names, CRLF line ends, a title line above the header, blank lines,
    quoted cells with commas, phones in every typed form, invalid phones and phones
    repeated further down. Returns (bytes, {row: bad phone}, {row: duplicate e164},
    {e164: (first, last, city)} of the rows that should be imported)."""
    rng = random.Random(seed)
    names = [
        ("José", "Núñez"),
        ("Zoë", "Müller"),
        ("François", "Lefèvre"),
        ("Søren", "Ørsted"),
        ("Ana", "García"),
        ("Ben", "O'Brien"),
    ]
    forms = [
        "503555{:04d}",
        "(503) 555-{:04d}",
        "+1 503.555.{:04d}",
        "1-503-555-{:04d}",
        " 503 555 {:04d} ",
    ]
    invalid = ["555", "n/a", "503-555", "", "call me", "+1 503 555"]
    lines = ["Volunteer sign-ups (exported)", "Mobile Phone,First Name,Last Name,City"]
    bad: dict[int, str] = {}
    duplicates: dict[int, str] = {}
    expected: dict[str, tuple[str, str, str]] = {}
    written = 0
    while written < rows:
        row = len(lines) + 1  # as a spreadsheet numbers it
        if row % 997 == 0:
            lines.append("")  # a blank line: skipped, and it keeps its number
            continue
        written += 1
        first, last = rng.choice(names)
        city = "Portland, OR" if rng.random() < 0.2 else "Salem"
        if rng.random() < 0.04:
            phone = rng.choice(invalid)
            bad[row] = phone
        else:
            n = rng.randrange(4000)  # collisions: the same person further down
            e164 = f"+1503555{n:04d}"
            phone = rng.choice(forms).format(n)
            if e164 in expected:
                duplicates[row] = e164
            else:
                expected[e164] = (first, last, city)
        lines.append(f'{phone},{first},{last},"{city}"')
    data = codecs.BOM_UTF8 + "\r\n".join(lines).encode("cp1252")
    return data, bad, duplicates, expected


def test_a_messy_5000_row_file_reports_every_bad_row_and_imports_the_rest_once(account):
    data, bad, duplicates, expected = messy_file()
    assert len(bad) > 100 and len(duplicates) > 500  # the file is as messy as it says

    imp = run_import(account, data)

    assert imp.status == "done"
    assert (imp.total, imp.processed) == (5000, 5000)
    assert (imp.created, imp.invalid, imp.duplicates) == (
        len(expected),
        len(bad),
        len(duplicates),
    )
    assert {e["row"] for e in imp.errors} == set(bad) | set(duplicates)  # every one, by row
    for error in imp.errors:
        if error["row"] in duplicates:
            assert duplicates[error["row"]] in error["reason"]
    contacts = {
        c.phone: (c.first_name, c.last_name, c.city)
        for c in Contact.objects.filter(account=account)
    }
    # Each once, as on its first row: Latin-1 names read right, quoted commas kept.
    assert contacts == expected

    again = run_import(account, data)  # the same file once more: nothing new
    assert (again.created, again.updated) == (0, len(expected))
    assert Contact.objects.filter(account=account).count() == len(expected)


def test_existing_contacts_are_updated_not_duplicated_and_keep_what_blank_cells_omit(
    account, other_account
):
    ana = make_contact(account, "+15035550107", first_name="Ana", city="Salem", zip="97301")
    elsewhere = make_contact(other_account, "+15035550107", first_name="Other")
    data = b"phone,first_name,last_name,city\n503-555-0107,,Alvarez,\n503-555-0108,Ben,,\n"
    imp = run_import(account, data, pool="voter")
    assert (imp.created, imp.updated) == (1, 1)
    ana.refresh_from_db()
    assert (ana.first_name, ana.last_name, ana.city, ana.zip) == (
        "Ana",
        "Alvarez",
        "Salem",
        "97301",
    )
    assert ana.sms_status == "opted_in"  # consent is not touched by an import
    assert ana.pool == "contact"  # an existing record keeps its pool
    assert ana.timezone_source == "address"  # the zone still comes from the stored ZIP
    ben = Contact.objects.get(account=account, phone="+15035550108")
    assert (ben.pool, ben.sms_status, ben.first_name) == ("voter", "none", "Ben")
    assert ben.timezone == "America/Los_Angeles" and ben.timezone_source == "phone"
    elsewhere.refresh_from_db()
    assert elsewhere.first_name == "Other"  # another account's contact is never touched
    assert Contact.objects.filter(phone="+15035550107").count() == 2


def test_a_file_of_bare_numbers_needs_no_header(account):
    imp = run_import(account, b"5035550109\n5035550110\n")
    assert (imp.total, imp.created) == (2, 2)


def test_a_list_tribe_gets_the_imported_contacts(account):
    make_contact(account, "+15035550111")
    imp = run_import(account, b"phone\n5035550111\n5035550112\nbad\n", tribe_name="Canvass May")
    tribe = Tribe.objects.get(account=account, name="Canvass May")
    assert tribe.kind == "list" and imp.tribe_id == tribe.pk
    members = set(TribeMember.objects.filter(tribe=tribe).values_list("contact__phone", flat=True))
    assert members == {"+15035550111", "+15035550112"}


def test_big_files_are_written_in_chunks_with_progress_and_a_resumed_run_duplicates_nothing(
    account,
):
    rows = "\n".join(f"50355{n:05d},Name{n}" for n in range(1000, 1025))
    imp = imports.import_create(
        account=account,
        actor=None,
        data=f"phone,first_name\n{rows}\n".encode(),
        tribe_name="Chunked",
    )
    # One chunk of 10 rows, then the budget runs out, as when a worker stops mid-way.
    assert imports.import_run(import_id=imp.pk, chunk_rows=10, time_budget=0) is False
    imp.refresh_from_db()
    assert (imp.status, imp.processed, imp.created) == ("running", 10, 10)
    assert Contact.objects.filter(account=account).count() == 10
    # Run again (Celery redelivers the task): it carries on after the committed chunk.
    with CaptureQueriesContext(connection) as queries:
        assert imports.import_run(import_id=imp.pk, chunk_rows=10) is True
    upserts = [q for q in queries.captured_queries if "ON CONFLICT (account_id, phone)" in q["sql"]]
    assert len(upserts) == 2  # rows 11-20 and 21-25: set-based, never a statement per row
    imp.refresh_from_db()
    assert (imp.status, imp.total, imp.processed, imp.created, imp.updated) == (
        "done",
        25,
        25,
        25,
        0,
    )
    # A finished import run again changes nothing.
    import_contacts(imp.pk)
    imp.refresh_from_db()
    assert (imp.processed, imp.created, imp.updated) == (25, 25, 0)
    assert Contact.objects.filter(account=account).count() == 25
    assert TribeMember.objects.filter(tribe__name="Chunked").count() == 25


def test_the_same_file_imported_twice_updates_the_second_time(account):
    data = b"phone,first_name\n5035550113,Ana\n5035550114,Ben\n"
    run_import(account, data, tribe_name="Twice")
    again = run_import(account, data, tribe_name="Twice")
    assert (again.created, again.updated) == (0, 2)
    assert Contact.objects.filter(account=account).count() == 2
    assert TribeMember.objects.filter(tribe__name="Twice").count() == 2


@pytest.mark.parametrize(
    "data, field, words",
    [
        (b"name,city\nAna,Portland\n", "file", "No phone column"),
        (b"phone\n", "file", "no rows"),
        (b"phone\n" + b"5035550100\n" * 50_001, "file", "50,001 rows"),
    ],
)
def test_files_that_cannot_be_imported_are_refused_at_once(account, data, field, words):
    with pytest.raises(ValidationError) as exc:
        imports.import_create(account=account, actor=None, data=data)
    assert words in exc.value.message_dict[field][0]
    assert not ContactImport.objects.exists()


def test_a_file_of_100000_columns_is_refused_at_once_naming_the_row(account, admin_api):
    """Issue 14: such a file was accepted and tied up the worker that also applies STOP
    for minutes (its column mapping was quadratic). Now it is refused on upload."""
    wide = ("phone," + ",".join(f"col{j}" for j in range(99_999)) + "\n").encode()
    wide += ("5035550100" + "," * 99_999 + "\n").encode()
    res = admin_api.post("/api/v1/contacts/import/", {"file": upload(wide)}, format="multipart")
    assert res.status_code == 400
    assert res.json()["file"] == [
        "Row 1 has 100,000 columns; a file may have at most 200 columns. Remove the "
        "columns you do not need and upload it again."
    ]
    assert not ContactImport.objects.exists()


@pytest.mark.parametrize("cell", [70_000, 200_000])  # under and over csv's own 128 K limit
def test_a_row_longer_than_64_kb_is_refused_naming_the_row(account, cell):
    data = b"phone,notes\n5035550100,short\n5035550101," + b"x" * cell + b"\n"
    with pytest.raises(ValidationError) as exc:
        imports.import_create(account=account, actor=None, data=data)
    assert exc.value.message_dict["file"][0].startswith("Row 3 is longer than 64 KB")
    assert not ContactImport.objects.exists()


def test_200_columns_still_import_and_repeated_headers_map_once(account):
    header = ["phone", "First Name", "first name", *[f"Extra {j}" for j in range(196)], "Extra 0"]
    assert len(header) == 200  # the most a file may have
    row = ["5035550100", "Ana", "Ann", *[f"v{j}" for j in range(196)], "again"]
    out = io.StringIO()
    csv.writer(out).writerows([header, row])
    imp = run_import(account, out.getvalue().encode())
    assert (imp.status, imp.created) == ("done", 1)
    contact = Contact.objects.get(account=account)
    assert contact.first_name == "Ana"
    # The second "first name" column is kept as a custom field; the repeated "Extra 0"
    # is not read twice.
    assert contact.custom_fields["first_name"] == "Ann"
    assert contact.custom_fields["extra_0"] == "v0"
    assert len(contact.custom_fields) == 197


def test_a_saved_filter_tribe_name_is_refused(account):
    Tribe.objects.create(account=account, name="Donors", kind="filter", filter={"all": []})
    with pytest.raises(ValidationError) as exc:
        imports.import_create(
            account=account, actor=None, data=b"phone\n5035550100\n", tribe_name="Donors"
        )
    assert "tribe_name" in exc.value.message_dict


# --- Pasted numbers -----------------------------------------------------------------------


def test_pasted_numbers_create_a_list_tribe_at_once(account):
    make_contact(account, "+15035550115")
    text = "503-555-0115, (503) 555-0116\n5035550117 5035550118\n\nnope\n503.555.0116"
    imp = imports.paste_import(account=account, actor=None, text=text, tribe_name="Pasted")
    assert (imp.status, imp.total, imp.created, imp.updated) == ("done", 6, 3, 1)
    assert (imp.invalid, imp.duplicates) == (1, 1)
    assert [(e["row"], e["value"]) for e in imp.errors] == [(5, "nope"), (6, "503.555.0116")]
    tribe = Tribe.objects.get(account=account, name="Pasted")
    assert tribe.kind == "list"
    assert TribeMember.objects.filter(tribe=tribe).count() == 4


def test_paste_limits(account):
    with pytest.raises(ValidationError) as exc:
        imports.paste_import(account=account, actor=None, text="  \n")
    assert "numbers" in exc.value.message_dict
    many = "\n".join(f"50355{n:05d}" for n in range(10_001))
    with pytest.raises(ValidationError) as exc:
        imports.paste_import(account=account, actor=None, text=many)
    assert "10,000" in exc.value.message_dict["numbers"][0]
    assert not Contact.objects.exists() and not ContactImport.objects.exists()


# --- API ------------------------------------------------------------------------------------


def upload(content: bytes, name: str = "people.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_api_import_is_202_then_progress_and_errors(account, admin_api):
    res = admin_api.post(
        "/api/v1/contacts/import/",
        {
            "file": upload(b"phone,first_name\n5035550119,Ana\nbad,Ben\n"),
            "pool": "voter",
            "tribe_name": "From the API",
        },
        format="multipart",
    )
    assert res.status_code == 202, res.json()
    import_id = res.json()["id"]
    body = admin_api.get(f"/api/v1/imports/{import_id}/").json()
    assert (body["status"], body["total"], body["processed"]) == ("pending", 2, 0)
    import_contacts(import_id)  # the worker
    body = admin_api.get(f"/api/v1/imports/{import_id}/").json()
    assert {k: body[k] for k in ("status", "total", "processed", "created", "updated",
                                  "invalid", "duplicates")} == {
        "status": "done", "total": 2, "processed": 2, "created": 1, "updated": 0,
        "invalid": 1, "duplicates": 0,
    }  # fmt: skip
    assert body["errors"] == [{"row": 3, "reason": "'bad' is not a phone number."}]
    assert body["tribe_id"] == Tribe.objects.get(name="From the API").pk
    report = admin_api.get(body["error_report_url"])
    assert report.status_code == 200 and report["Content-Type"] == "text/csv"
    assert b"3,bad," in report.content
    assert Contact.objects.get(phone="+15035550119").pool == "voter"


def test_api_errors_are_400_naming_the_field(account, admin_api):
    res = admin_api.post("/api/v1/contacts/import/", {}, format="multipart")
    assert res.status_code == 400 and "file" in res.json()
    res = admin_api.post(
        "/api/v1/contacts/import/",
        {"file": upload(b"name\nAna\n")},
        format="multipart",
    )
    assert res.status_code == 400 and "phone" in res.json()["file"][0]
    res = admin_api.post(
        "/api/v1/contacts/import/",
        {"file": upload(b"phone\n5035550100\n"), "pool": "donors"},
        format="multipart",
    )
    assert res.status_code == 400 and "pool" in res.json()
    assert not ContactImport.objects.exists()


def test_api_roles_and_tenants(account, admin_api):
    viewer = api_client(make_member(account, "viewer"), account)
    res = viewer.post(
        "/api/v1/contacts/import/", {"file": upload(b"phone\n5035550100\n")}, format="multipart"
    )
    assert res.status_code == 403
    manager = api_client(make_member(account, "manager"), account)
    res = manager.post(
        "/api/v1/contacts/import/", {"file": upload(b"phone\n5035550100\n")}, format="multipart"
    )
    assert res.status_code == 202
    import_id = res.json()["id"]
    assert viewer.get(f"/api/v1/imports/{import_id}/").status_code == 200
    other = make_account("charlie")
    outsider = api_client(make_member(other, "admin"), other)
    assert outsider.get(f"/api/v1/imports/{import_id}/").status_code == 404
    assert outsider.get(f"/api/v1/imports/{import_id}/errors.csv").status_code == 404
