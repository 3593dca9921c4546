from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("socialcare", "0008_performance_indexes")]

    operations = []
