from django.db import migrations

# History is evidence: rows are inserted, never rewritten. Deleting stays possible so a
# contact (and their history) can be erased on request.
FORWARD = """
CREATE FUNCTION contacts_engagement_no_update() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'engagement history is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER contacts_engagementevent_append_only
  BEFORE UPDATE ON contacts_engagementevent
  FOR EACH ROW EXECUTE FUNCTION contacts_engagement_no_update();
"""
REVERSE = """
DROP TRIGGER IF EXISTS contacts_engagementevent_append_only ON contacts_engagementevent;
DROP FUNCTION IF EXISTS contacts_engagement_no_update();
"""


class Migration(migrations.Migration):
    dependencies = [("contacts", "0001_initial")]
    operations = [migrations.RunSQL(FORWARD, REVERSE)]
