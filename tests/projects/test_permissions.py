"""The permission matrix: every API endpoint × method × principal (each project
role, a non-member of the same hospital, anonymous) × own/other institution,
with the expected status written out for each cell.

Columns: project_admin investigator labeler reviewer analyst viewer outsider anonymous.
Default cross-institution roles: project_admin, reviewer, analyst. A forbidden
action on a visible object is 403; an object the user may not see is 404."""

import zlib
from typing import Any

import pytest

from analysis.models import SeriesLevels
from audit.models import AuditAction
from audit.services import audit_record
from tests import factories
from tests.analysis.bodycomp_helpers import stored_measurements
from tests.conftest import PRINCIPALS, World, client_for
from tests.learning import helpers as learning_helpers


def _upload_body(w: World) -> dict[str, Any]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    # Not DICOM: rejected by validation before the image store is contacted.
    return {"project": w.project.pk, "files": [SimpleUploadedFile("x.txt", b"not dicom")]}


def _review_body(w: World, side: str) -> dict[str, Any]:
    """A verify decision on a track of the series, written by a labeler of its hospital."""
    author = w.users["labeler"] if side == "own" else w.objects["membership_b"].user
    track = factories.LabelTrackFactory(series=w.objects[f"series_{side}"], author=author)
    return {"decision": "verify", "track": track.pk}


def _mask_body(w: World, side: str) -> dict[str, Any]:
    """A correction of the L3 row's one mask (unchanged pixels, valid encoding)."""
    mask = w.objects[f"masks_{side}"].masks[0]
    return {"base_revision": 0, "slices": [mask]}


def _body(kind: str, w: World) -> dict[str, Any] | None:
    if kind == "upload":
        return _upload_body(w)
    if kind.startswith("mask_correct_"):
        return _mask_body(w, kind.removeprefix("mask_correct_"))
    if kind.startswith("review_"):
        return _review_body(w, kind.removeprefix("review_"))
    bodies = {
        "project_patch": {"description": "Updated protocol"},
        "project_new": {"name": "New", "slug": "new", "institutions": ["A"]},
        "grant": {"project": w.project.pk, "user": "candidate_a", "role": "viewer"},
        "cohort_new": {"project": w.project.pk, "name": "Women", "criteria": {"sexes": ["F"]}},
        "cohort_patch": {"description": "Revised"},
        "job_new": {"project": w.project.pk, "job_type": "worker_info"},
        "bodycomp_new": {
            "project": w.project.pk,
            "job_type": "measure_body_composition",
            "series": w.objects["series_own"].pk,
            "parameters": {"levels": ["L3"], "slices_around": 1},
        },
        "label_edit": {"base_revision": 0, "start": 0, "end": 1, "label": "L3"},
        "label_undo": {"base_revision": 0},
        "label_submit": {"comment": "done"},
        "freeze": {"held_out_institutions": ["B"]},
        "promote": {"model_version": w.objects["model_version"].pk},
        "mask_verify": {"decision": "verify"},
        "train_new": {
            "project": w.project.pk,
            "job_type": "train_classifier",
            "parameters": {"dataset": w.objects["dataset"].pk},
        },
        "evaluate_new": {
            "project": w.project.pk,
            "job_type": "evaluate_classifier",
            "parameters": {
                "dataset": w.objects["dataset"].pk,
                "model": w.objects["model_version"].pk,
            },
        },
    }
    return bodies.get(kind)


# (case id, method, path with {object} placeholders, body kind, expected per principal)
MATRIX = [
    ("projects-list", "get", "/api/v1/projects/", None, "200 200 200 200 200 200 200 401"),
    ("project-get", "get", "/api/v1/projects/{project}/", None, "200 200 200 200 200 200 404 401"),
    (
        "project-get-nonmember",
        "get",
        "/api/v1/projects/{other_project}/",
        None,
        "404 404 404 404 404 404 404 401",
    ),
    (
        "project-patch",
        "patch",
        "/api/v1/projects/{project}/",
        "project_patch",
        "200 403 403 403 403 403 404 401",
    ),
    (
        "project-create",
        "post",
        "/api/v1/projects/",
        "project_new",
        "403 403 403 403 403 403 403 401",
    ),
    (
        "project-delete",
        "delete",
        "/api/v1/projects/{project}/",
        None,
        "405 405 405 405 405 405 405 401",
    ),
    (
        "members-list",
        "get",
        "/api/v1/memberships/?project={project}",
        None,
        "200 200 200 200 200 200 200 401",
    ),
    (
        "member-get-other-inst",
        "get",
        "/api/v1/memberships/{membership_b}/",
        None,
        "200 200 200 200 200 200 404 401",
    ),
    ("member-grant", "post", "/api/v1/memberships/", "grant", "201 403 403 403 403 403 400 401"),
    (
        "member-revoke-other-inst",
        "delete",
        "/api/v1/memberships/{membership_b}/",
        None,
        "204 403 403 403 403 403 404 401",
    ),
    (
        "member-patch",
        "patch",
        "/api/v1/memberships/{membership_b}/",
        "grant",
        "405 405 405 405 405 405 405 401",
    ),
    ("cohort-get", "get", "/api/v1/cohorts/{cohort}/", None, "200 200 200 200 200 200 404 401"),
    ("cohort-create", "post", "/api/v1/cohorts/", "cohort_new", "201 403 403 403 403 403 400 401"),
    (
        "cohort-patch",
        "patch",
        "/api/v1/cohorts/{cohort}/",
        "cohort_patch",
        "200 403 403 403 403 403 404 401",
    ),
    (
        "cohort-delete",
        "delete",
        "/api/v1/cohorts/{cohort}/",
        None,
        "204 403 403 403 403 403 404 401",
    ),
    (
        "cohort-refresh",
        "post",
        "/api/v1/cohorts/{cohort}/refresh/",
        None,
        "200 403 403 403 403 403 404 401",
    ),
    (
        "study-get-own-inst",
        "get",
        "/api/v1/studies/{study_own}/",
        None,
        "200 200 200 200 200 200 404 401",
    ),
    (
        "study-get-other-inst",
        "get",
        "/api/v1/studies/{study_other}/",
        None,
        "200 404 404 200 200 404 404 401",
    ),
    (
        "study-get-other-project",
        "get",
        "/api/v1/studies/{other_project_study}/",
        None,
        "404 404 404 404 404 404 404 401",
    ),
    ("study-create", "post", "/api/v1/studies/", None, "405 405 405 405 405 405 405 401"),
    (
        "study-delete",
        "delete",
        "/api/v1/studies/{study_own}/",
        None,
        "405 405 405 405 405 405 405 401",
    ),
    (
        "series-get-own-inst",
        "get",
        "/api/v1/series/{series_own}/",
        None,
        "200 200 200 200 200 200 404 401",
    ),
    (
        "series-get-other-inst",
        "get",
        "/api/v1/series/{series_other}/",
        None,
        "200 404 404 200 200 404 404 401",
    ),
    ("job-get-own-inst", "get", "/api/v1/jobs/{job_own}/", None, "200 200 200 200 200 200 404 401"),
    (
        "job-get-other-inst",
        "get",
        "/api/v1/jobs/{job_other}/",
        None,
        "200 404 404 200 200 404 404 401",
    ),
    (
        "job-get-project-wide",
        "get",
        "/api/v1/jobs/{job_project}/",
        None,
        "200 200 200 200 200 200 404 401",
    ),
    ("job-start", "post", "/api/v1/jobs/", "job_new", "201 403 403 403 403 403 400 401"),
    (
        "job-cancel-own-inst",
        "post",
        "/api/v1/jobs/{job_own}/cancel/",
        None,
        "200 403 403 403 403 403 404 401",
    ),
    (
        "job-cancel-other-inst",
        "post",
        "/api/v1/jobs/{job_other}/cancel/",
        None,
        "200 404 404 403 403 404 404 401",
    ),
    (
        "job-start-bodycomp-own-inst",
        "post",
        "/api/v1/jobs/",
        "bodycomp_new",
        "201 201 201 201 403 403 400 401",
    ),
    ("job-delete", "delete", "/api/v1/jobs/{job_own}/", None, "405 405 405 405 405 405 405 401"),
    (
        "levels-get-own-inst",
        "get",
        "/api/v1/series-levels/{levels_own}/",
        None,
        "200 200 200 200 200 200 404 401",
    ),
    (
        "levels-get-other-inst",
        "get",
        "/api/v1/series-levels/{levels_other}/",
        None,
        "200 404 404 200 200 404 404 401",
    ),
    ("levels-list", "get", "/api/v1/series-levels/", None, "200 200 200 200 200 200 200 401"),
    (
        "labels-get-own-inst",
        "get",
        "/api/v1/series/{series_own}/labels/",
        None,
        "200 200 200 200 200 200 404 401",
    ),
    (
        "labels-get-other-inst",
        "get",
        "/api/v1/series/{series_other}/labels/",
        None,
        "200 404 404 200 200 404 404 401",
    ),
    (
        "labels-edit-own-inst",
        "post",
        "/api/v1/series/{series_own}/labels/edits/",
        "label_edit",
        "403 403 200 403 403 403 404 401",
    ),
    (
        "labels-edit-other-inst",
        "post",
        "/api/v1/series/{series_other}/labels/edits/",
        "label_edit",
        "403 404 404 403 403 404 404 401",
    ),
    (
        "labels-edits-get",
        "get",
        "/api/v1/series/{series_own}/labels/edits/",
        None,
        "405 405 405 405 405 405 405 401",
    ),
    # The labeler may undo, but has no edit yet: 409.
    (
        "labels-undo-own-inst",
        "post",
        "/api/v1/series/{series_own}/labels/undo/",
        "label_undo",
        "403 403 409 403 403 403 404 401",
    ),
    (
        "labels-undo-other-inst",
        "post",
        "/api/v1/series/{series_other}/labels/undo/",
        "label_undo",
        "403 404 404 403 403 404 404 401",
    ),
    (
        "labels-history-own-inst",
        "get",
        "/api/v1/series/{series_own}/labels/history/",
        None,
        "200 200 200 200 200 200 404 401",
    ),
    (
        "labels-history-other-inst",
        "get",
        "/api/v1/series/{series_other}/labels/history/",
        None,
        "200 404 404 200 200 404 404 401",
    ),
    (
        "labels-submit-own-inst",
        "post",
        "/api/v1/series/{series_own}/labels/submit/",
        "label_submit",
        "403 403 200 403 403 403 404 401",
    ),
    (
        "labels-submit-other-inst",
        "post",
        "/api/v1/series/{series_other}/labels/submit/",
        "label_submit",
        "403 404 404 403 403 404 404 401",
    ),
    (
        "labels-review-own-inst",
        "post",
        "/api/v1/series/{series_own}/labels/review/",
        "review_own",
        "403 403 403 200 403 403 404 401",
    ),
    (
        "labels-review-other-inst",
        "post",
        "/api/v1/series/{series_other}/labels/review/",
        "review_other",
        "403 404 404 200 403 404 404 401",
    ),
    (
        "cam-own-inst",
        "get",
        "/api/v1/series-levels/{levels_own}/cam/1.png",
        None,
        "403 200 200 200 403 200 404 401",
    ),
    (
        "cam-other-inst",
        "get",
        "/api/v1/series-levels/{levels_other}/cam/2.png",
        None,
        "403 404 404 200 403 404 404 401",
    ),
    (
        "cam-slice-out-of-range",
        "get",
        "/api/v1/series-levels/{levels_own}/cam/3.png",
        None,
        "403 404 404 404 403 404 404 401",
    ),
    (
        "measurements-list",
        "get",
        "/api/v1/measurements/",
        None,
        "200 200 200 200 200 200 200 401",
    ),
    (
        "measurement-get-own-inst",
        "get",
        "/api/v1/measurements/{measurement_own}/",
        None,
        "200 200 200 200 200 200 404 401",
    ),
    (
        "measurement-get-other-inst",
        "get",
        "/api/v1/measurements/{measurement_other}/",
        None,
        "200 404 404 200 200 404 404 401",
    ),
    (
        "measurement-create",
        "post",
        "/api/v1/measurements/",
        None,
        "405 405 405 405 405 405 405 401",
    ),
    (
        "measurement-export-project",
        "get",
        "/api/v1/measurements/export.csv?project={project}",
        None,
        "403 403 403 403 200 403 404 401",
    ),
    (
        "measurement-export-all",
        "get",
        "/api/v1/measurements/export.parquet",
        None,
        "403 403 403 403 200 403 403 401",
    ),
    (
        "measurement-export-post",
        "post",
        "/api/v1/measurements/export.xlsx",
        None,
        "405 405 405 405 405 405 405 401",
    ),
    (
        "series-masks-get-own-inst",
        "get",
        "/api/v1/series/{series_own}/masks/",
        None,
        "403 200 200 200 403 200 404 401",
    ),
    (
        "series-masks-get-other-inst",
        "get",
        "/api/v1/series/{series_other}/masks/",
        None,
        "403 404 404 200 403 404 404 401",
    ),
    (
        "measurement-masks-get-own-inst",
        "get",
        "/api/v1/measurements/{masks_own}/masks/",
        None,
        "403 200 200 200 403 200 404 401",
    ),
    (
        "measurement-masks-get-other-inst",
        "get",
        "/api/v1/measurements/{masks_other}/masks/",
        None,
        "403 404 404 200 403 404 404 401",
    ),
    (
        "measurement-masks-correct-own-inst",
        "post",
        "/api/v1/measurements/{masks_own}/masks/",
        "mask_correct_own",
        "403 403 200 403 403 403 404 401",
    ),
    (
        "measurement-masks-correct-other-inst",
        "post",
        "/api/v1/measurements/{masks_other}/masks/",
        "mask_correct_other",
        "403 404 404 403 403 404 404 401",
    ),
    (
        "measurement-masks-undo-own-inst",
        "post",
        "/api/v1/measurements/{masks_own}/masks/undo/",
        "label_undo",
        "403 403 409 403 403 403 404 401",
    ),
    (
        "measurement-masks-undo-other-inst",
        "post",
        "/api/v1/measurements/{masks_other}/masks/undo/",
        "label_undo",
        "403 404 404 403 403 404 404 401",
    ),
    (
        "measurement-masks-history-own-inst",
        "get",
        "/api/v1/measurements/{masks_own}/masks/history/",
        None,
        "200 200 200 200 200 200 404 401",
    ),
    (
        "measurement-masks-history-other-inst",
        "get",
        "/api/v1/measurements/{masks_other}/masks/history/",
        None,
        "200 404 404 200 200 404 404 401",
    ),
    (
        "measurement-masks-submit-own-inst",
        "post",
        "/api/v1/measurements/{masks_own}/masks/submit/",
        "label_submit",
        "403 403 200 403 403 403 404 401",
    ),
    (
        "measurement-masks-submit-other-inst",
        "post",
        "/api/v1/measurements/{masks_other}/masks/submit/",
        "label_submit",
        "403 404 404 403 403 404 404 401",
    ),
    (
        "measurement-masks-review-own-inst",
        "post",
        "/api/v1/measurements/{masks_own}/masks/review/",
        "mask_verify",
        "403 403 403 200 403 403 404 401",
    ),
    (
        "measurement-masks-review-other-inst",
        "post",
        "/api/v1/measurements/{masks_other}/masks/review/",
        "mask_verify",
        "403 404 404 200 403 404 404 401",
    ),
    # Learning loop. Freezing a cohort with no verified series is refused (400).
    (
        "datasets-list",
        "get",
        "/api/v1/projects/{project}/datasets/",
        None,
        "200 200 200 200 200 200 404 401",
    ),
    (
        "datasets-freeze",
        "post",
        "/api/v1/projects/{project}/datasets/",
        "freeze",
        "400 403 403 403 403 403 404 401",
    ),
    ("dataset-get", "get", "/api/v1/datasets/{dataset}/", None, "200 200 200 200 200 200 404 401"),
    (
        "dataset-manifest",
        "get",
        "/api/v1/datasets/{dataset}/manifest.csv",
        None,
        "200 403 403 403 403 403 404 401",
    ),
    (
        "model-versions-list",
        "get",
        "/api/v1/model-versions/",
        None,
        "200 200 200 200 200 200 200 401",
    ),
    (
        "project-model-get",
        "get",
        "/api/v1/projects/{project}/model/",
        None,
        "200 200 200 200 200 200 404 401",
    ),
    (
        "project-model-promote",
        "post",
        "/api/v1/projects/{project}/model/promote/",
        "promote",
        "201 403 403 403 403 403 404 401",
    ),
    # Nothing promoted yet: the admin's rollback is a conflict.
    (
        "project-model-rollback",
        "post",
        "/api/v1/projects/{project}/model/rollback/",
        None,
        "409 403 403 403 403 403 404 401",
    ),
    (
        "review-queue-labeler",
        "get",
        "/api/v1/projects/{project}/review-queue/?role=labeler",
        None,
        "403 403 200 403 403 403 404 401",
    ),
    (
        "review-queue-reviewer",
        "get",
        "/api/v1/projects/{project}/review-queue/?role=reviewer",
        None,
        "403 403 403 200 403 403 404 401",
    ),
    (
        "review-queue-bad-role",
        "get",
        "/api/v1/projects/{project}/review-queue/?role=boss",
        None,
        "400 400 400 400 400 400 404 401",
    ),
    # Training/evaluation jobs: project admins only; the matrix's dataset has no
    # rows, so the admin's request is refused (400) before anything is queued.
    ("job-start-train", "post", "/api/v1/jobs/", "train_new", "400 403 403 403 403 403 400 401"),
    (
        "job-start-evaluate",
        "post",
        "/api/v1/jobs/",
        "evaluate_new",
        "400 403 403 403 403 403 400 401",
    ),
    (
        "project-evaluations",
        "get",
        "/api/v1/projects/{project}/evaluations/",
        None,
        "200 200 200 200 200 200 404 401",
    ),
    (
        "evaluation-artifact",
        "get",
        "/api/v1/evaluations/{evaluation}/artifacts/history.png",
        None,
        "200 200 200 200 200 200 404 401",
    ),
    ("audit-list", "get", "/api/v1/audit-events/", None, "200 200 200 200 200 200 200 401"),
    ("audit-create", "post", "/api/v1/audit-events/", None, "405 405 405 405 405 405 405 401"),
    (
        "audit-delete",
        "delete",
        "/api/v1/audit-events/{audit_event}/",
        None,
        "405 405 405 405 405 405 405 401",
    ),
    ("upload", "post", "/api/v1/uploads/", "upload", "403 400 403 403 403 403 400 401"),
    ("institutions-list", "get", "/api/v1/institutions/", None, "200 200 200 200 200 200 200 401"),
    ("me", "get", "/api/v1/me/", None, "200 200 200 200 200 200 200 401"),
]

CASES = [
    pytest.param(method, path, body, principal, int(expected.split()[i]), id=f"{case}-{principal}")
    for case, method, path, body, expected in MATRIX
    for i, principal in enumerate(PRINCIPALS)
]


@pytest.mark.parametrize(("method", "path", "body", "principal", "expected"), CASES)
def test_permission_matrix(
    world: World, method: str, path: str, body: str | None, principal: str, expected: int
) -> None:
    world.objects["audit_event"] = audit_record(
        action=AuditAction.LOGIN, actor=world.users["viewer"]
    )
    SeriesLevels.objects.filter(series__study__project=world.project).update(
        cams=zlib.compress(bytes(3 * 2 * 2)),
        cam_shape=[3, 2, 2],
        slice_sop_instance_uids=["2.25.1", "2.25.2", "2.25.3"],
    )
    for side in ("own", "other"):
        rows = stored_measurements(world.objects[f"series_{side}"])
        world.objects[f"measurement_{side}"] = rows[0]
        world.objects[f"masks_{side}"] = rows[1]  # L3: the one with a mask
    world.objects["dataset"] = learning_helpers.frozen_dataset(world)
    world.objects["model_version"] = learning_helpers.model_version("1")
    world.objects["evaluation"] = learning_helpers.stored_evaluation(
        world, world.objects["model_version"], world.objects["dataset"]
    )
    ids = {"project": world.project.pk, "other_project": world.other_project.pk}
    ids.update({name: obj.pk for name, obj in world.objects.items()})
    user = None if principal == "anonymous" else world.users[principal]
    client = client_for(user)
    response = getattr(client, method)(
        path.format(**ids),
        _body(body, world) if body else None,
        format="multipart" if body == "upload" else "json",
    )
    assert response.status_code == expected, response.content[:300]


def test_matrix_covers_every_api_route() -> None:
    """A new endpoint must be added to the matrix: compare with the URL conf."""
    from django.urls import get_resolver

    api = get_resolver().url_patterns
    names: set[str] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            if hasattr(p, "url_patterns"):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif prefix.startswith("api/v1/") and p.name and "format" not in str(p.pattern):
                names.add(p.name)

    walk(api, "")
    covered = {
        "project-list",
        "project-detail",
        "membership-list",
        "membership-detail",
        "cohort-list",
        "cohort-detail",
        "cohort-refresh",
        "study-list",
        "study-detail",
        "series-list",
        "series-detail",
        "job-list",
        "job-detail",
        "job-cancel",
        "auditevent-list",
        "auditevent-detail",
        "institution-list",
        "institution-detail",
        "me",
        "api-token",
        "api-root",
        "upload",
        "serieslevels-list",
        "serieslevels-detail",
        "serieslevels-cam",
        "measurement-list",
        "measurement-detail",
        "measurement-export",
        "series-labels",
        "series-labels-edits",
        "series-labels-undo",
        "series-labels-history",
        "series-labels-submit",
        "series-labels-review",
        "project-datasets",
        "dataset-detail",
        "dataset-manifest",
        "modelversion-list",
        "project-model",
        "project-model-promote",
        "project-model-rollback",
        "project-review-queue",
        "series-masks",
        "measurement-masks",
        "measurement-masks-undo",
        "measurement-masks-history",
        "measurement-masks-submit",
        "measurement-masks-review",
        "project-evaluations",
        "evaluation-artifact",
    }
    assert names <= covered, f"endpoints missing from the matrix: {sorted(names - covered)}"
