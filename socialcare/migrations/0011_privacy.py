from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("socialcare", "0010_access_controls")]

    operations = []
