from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("socialcare", "0009_post_text_search")]

    operations = []
