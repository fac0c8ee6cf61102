"""The cohort analytics page and its PNG plots: scoped like the API, escaped,
no inline script, linked from the project page."""

from typing import Any

from django.test import Client

from tests.analysis.bodycomp_helpers import stored_measurements
from tests.conftest import World


def _logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_cohort_page_lists_scoped_measurements_and_plots(world: World) -> None:
    stored_measurements(world.objects["series_own"])
    stored_measurements(world.objects["series_other"])
    url = f"/projects/{world.project.pk}/cohort/"
    analyst = _logged_in(world.users["analyst"]).get(url)
    html = analyst.content.decode()
    assert analyst.status_code == 200
    assert "Measurements (4)" in html and world.objects["study_other"].patient_pseudonym in html
    assert f"/projects/{world.project.pk}/cohort/smi.png?latest=1&amp;level=L1" in html
    assert f"/api/v1/measurements/export.xlsx?latest=1&amp;project={world.project.pk}" in html
    assert "<script" not in html
    viewer = _logged_in(world.users["viewer"]).get(url + "?level=L3").content.decode()
    assert "Measurements (1)" in viewer and "export.csv" not in viewer
    assert world.objects["study_other"].patient_pseudonym not in viewer


def test_cohort_page_shows_the_newest_result_unless_asked(world: World) -> None:
    stored_measurements(world.objects["series_own"])
    stored_measurements(world.objects["series_own"])
    client = _logged_in(world.users["analyst"])
    url = f"/projects/{world.project.pk}/cohort/"
    assert "Measurements (2)" in client.get(url).content.decode()
    every = client.get(url + "?latest=0").content.decode()
    assert "Measurements (4)" in every and "smi.png?latest=0&amp;level=L1" in every


def test_cohort_page_escapes_and_survives_bad_filters(world: World) -> None:
    study = world.objects["study_own"]
    study.patient_pseudonym = "<b>x</b>"
    study.save()
    stored_measurements(world.objects["series_own"])
    page = _logged_in(world.users["analyst"]).get(
        f"/projects/{world.project.pk}/cohort/?sex=<script>&level=L3"
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<script>" not in html


def test_cohort_page_is_404_for_non_members(world: World) -> None:
    assert (
        _logged_in(world.users["outsider"]).get(f"/projects/{world.project.pk}/cohort/").status_code
        == 404
    )
    assert (
        _logged_in(world.users["outsider"])
        .get(f"/projects/{world.project.pk}/cohort/smi.png?level=L3")
        .status_code
        == 404
    )


def test_plot_is_a_png(world: World) -> None:
    stored_measurements(world.objects["series_own"])
    response = _logged_in(world.users["viewer"]).get(
        f"/projects/{world.project.pk}/cohort/smi.png?level=L3&sex=F"
    )
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    empty = _logged_in(world.users["viewer"]).get(
        f"/projects/{world.project.pk}/cohort/smi.png?level=T4"
    )
    assert empty.status_code == 200 and empty.content.startswith(b"\x89PNG")
    assert (
        _logged_in(world.users["viewer"])
        .get(f"/projects/{world.project.pk}/cohort/smi.png")
        .status_code
        == 404
    )


def test_project_page_links_the_cohort_page(world: World) -> None:
    html = _logged_in(world.users["viewer"]).get(f"/projects/{world.project.pk}/").content.decode()
    assert f'href="/projects/{world.project.pk}/cohort/"' in html
