"""List endpoints cost a fixed number of queries, however many rows they list
(no N+1): counted with 1 and with 6 extra studies (series, finished, queued and
running jobs, levels, a member granted by the admin each), and pinned to the
numbers below (the user's memberships are read once per request)."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analysis.models import SeriesLevels
from tests import factories
from tests.conftest import World, client_for

pytestmark = pytest.mark.django_db

# Queries per list for a project admin (force_authenticate: no token lookup).
EXPECTED = {
    "/api/v1/projects/": 4,  # memberships, count, page, institutions
    "/api/v1/studies/?project={p}": 4,  # memberships, ?project=, count, page
    "/api/v1/series/?project={p}": 3,  # memberships, count, page
    "/api/v1/jobs/?project={p}": 6,  # memberships, ?project=, count, page, queue, durations
    "/api/v1/series-levels/": 3,
    "/api/v1/cohorts/": 4,  # memberships, count, page, visible studies
    "/api/v1/memberships/?project={p}": 4,  # memberships, ?project=, count, page
    "/api/v1/audit-events/": 2,
    "/api/v1/measurements/": 2,
    "/api/v1/institutions/": 3,
}
LISTS = [
    "/api/v1/projects/",
    "/api/v1/studies/?project={p}",
    "/api/v1/series/?project={p}",
    "/api/v1/jobs/?project={p}",
    "/api/v1/series-levels/",
    "/api/v1/cohorts/",
    "/api/v1/memberships/?project={p}",
    "/api/v1/audit-events/",
    "/api/v1/measurements/",
    "/api/v1/institutions/",
]


def _add_rows(world: World, count: int) -> None:
    for n in range(count):
        inst = world.inst_a if n % 2 else world.inst_b
        study = factories.StudyFactory(project=world.project, institution=inst)
        series = factories.SeriesFactory(study=study)
        job = factories.JobFactory(
            project=world.project, institution=inst, series=series,
            job_type="classify_levels", state="succeeded",
        )  # fmt: skip
        SeriesLevels.objects.create(
            job=job, series=series, model_name="tiny", model_version="1",
            slice_levels=["L3"], ranges=[{"level": "L3", "first": 0, "last": 0}],
        )  # fmt: skip
        for state in ("queued", "running"):  # listed with a queue estimate
            factories.JobFactory(
                project=world.project, institution=inst, series=series,
                job_type="classify_levels", state=state, started_at=timezone.now(),
            )  # fmt: skip
        factories.MembershipFactory(
            project=world.project, user=factories.UserFactory(institution=inst),
            granted_by=world.users["project_admin"],
        )  # fmt: skip
        factories.CohortFactory(project=world.project)


def _counts(world: World, client: Any) -> dict[str, int]:
    counts = {}
    for template in LISTS:
        path = template.format(p=world.project.pk)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        assert response.status_code == 200, (path, response.content[:300])
        counts[path] = len(queries)
    return counts


def test_list_endpoints_do_not_query_per_row(world: World) -> None:
    admin = world.users["project_admin"]
    client = client_for(admin)
    _add_rows(world, 1)
    few = _counts(world, client)
    _add_rows(world, 5)
    many = _counts(world, client)
    print(few)
    assert many == few
    assert few == {t.format(p=world.project.pk): n for t, n in EXPECTED.items()}
