from typing import Any

import pytest
from django.test import Client


@pytest.mark.django_db
def test_healthz_reports_each_dependency_and_503_when_image_store_is_down(settings: Any) -> None:
    settings.DICOMWEB_URL = "http://127.0.0.1:9/dicom-web"  # nothing listens on port 9
    response = Client().get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["image_store"]["ok"] is False


@pytest.mark.django_db
def test_healthz_ok_with_real_orthanc(settings: Any, orthanc_server: Any) -> None:
    settings.DICOMWEB_URL = orthanc_server.dicomweb_url
    settings.DICOMWEB_USERNAME, settings.DICOMWEB_PASSWORD = orthanc_server.auth
    response = Client().get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["image_store"] == {"ok": True, "detail": "dicomweb"}


@pytest.mark.django_db
def test_healthz_reports_broker_down(settings: Any, orthanc_server: Any) -> None:
    settings.DICOMWEB_URL = orthanc_server.dicomweb_url
    settings.DICOMWEB_USERNAME, settings.DICOMWEB_PASSWORD = orthanc_server.auth
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
