"""WSGI entry (gunicorn). Run from the repository root with platform/ on sys.path."""

import os
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
# Import the URLconf, and with it every view, while the worker boots: Django
# would otherwise do it in the first request each worker serves (~1.5 s of CPU,
# after every deploy, restart or worker recycle).
import_module(settings.ROOT_URLCONF)
