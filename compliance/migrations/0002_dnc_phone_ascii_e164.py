"""The DNC list holds ASCII E.164 phones only (issue 14). contacts 0005 has rewritten
existing entries first (and dropped non-ASCII duplicates of listed numbers)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0001_initial"),
        ("contacts", "0005_phones_ascii_e164"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="dncentry",
            constraint=models.CheckConstraint(
                condition=models.Q(("phone__regex", "^\\+[1-9][0-9]{6,14}$")),
                name="dnc_phone_ascii_e164",
            ),
        ),
    ]
