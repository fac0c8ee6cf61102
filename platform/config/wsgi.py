"""WSGI entry (gunicorn). Run from the repository root with platform/ on sys.path."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
