"""The platform's Celery app. Tasks are routed by name: `ml_worker.*` goes to
the `gpu` queue (served by ml_worker's own Django-free app), everything else to
`default`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
