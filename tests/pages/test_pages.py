"""Server-rendered pages: log-in flow, scoping, escaping, security headers."""

from typing import Any

from django.test import Client

from tests.conftest import World


def _logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages_require_login(world: World) -> None:
    response = Client().get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login/")
    login_page = Client().get("/login/")
    assert login_page.status_code == 200 and b'name="password"' in login_page.content


def test_project_list_shows_only_member_projects(world: World) -> None:
    page = _logged_in(world.users["viewer"]).get("/").content.decode()
    assert world.project.name in page
    assert world.other_project.name not in page
    outsider_page = _logged_in(world.users["outsider"]).get("/").content.decode()
    assert "not a member of any project" in outsider_page


def test_project_page_lists_members_cohorts_studies_and_jobs(world: World) -> None:
    page = _logged_in(world.users["project_admin"]).get(f"/projects/{world.project.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    for text in (
        "labeler_b",
        world.objects["cohort"].name,
        world.objects["study_other"].patient_pseudonym,
        "worker_info",
    ):
        assert text in html


def test_project_page_hides_other_centres_from_own_institution_roles(world: World) -> None:
    html = _logged_in(world.users["labeler"]).get(f"/projects/{world.project.pk}/").content.decode()
    assert world.objects["study_own"].patient_pseudonym in html
    assert world.objects["study_other"].patient_pseudonym not in html


def test_non_member_gets_404(world: World) -> None:
    response = _logged_in(world.users["outsider"]).get(f"/projects/{world.project.pk}/")
    assert response.status_code == 404


def test_dicom_text_is_escaped(world: World) -> None:
    study = world.objects["study_own"]
    study.description = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    study.save()
    world.project.description = "<b onmouseover=alert(2)>bold</b>"
    world.project.save()
    html = _logged_in(world.users["viewer"]).get(f"/projects/{world.project.pk}/").content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b onmouseover" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_security_headers_and_csp_without_inline_script(world: World) -> None:
    response = _logged_in(world.users["viewer"]).get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in response.content.decode()


def test_logout_needs_post_with_csrf(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["viewer"])
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 403  # no CSRF token
    assert client.get("/").status_code == 200  # still logged in
