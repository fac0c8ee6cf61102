"""The Grad-CAM of one slice as a grayscale PNG: right shape and content,
404 outside the series, pixel rights required, every request audited."""

import io

import numpy as np
from PIL import Image

from audit.models import AuditEvent
from tests.annotations.helpers import classify, url
from tests.conftest import World, client_for

# Three slices of 4 rows × 5 columns, every value distinct per slice.
CAMS = (np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5) * 4).astype(np.uint8)


def _cam_url(levels_id: int, index: int) -> str:
    return f"/api/v1/series-levels/{levels_id}/cam/{index}.png"


def _last_access() -> AuditEvent:
    return AuditEvent.objects.filter(action="image_accessed").latest("id")


def test_it_serves_one_slice_as_a_grayscale_png(world: World) -> None:
    levels = classify(world, world.objects["series_own"], ["L2", "L3", "L3"], cams=CAMS)
    response = client_for(world.users["viewer"]).get(_cam_url(levels.pk, 1))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "image/png" and "private" in response["Cache-Control"]
    image = Image.open(io.BytesIO(response.content))
    assert image.mode == "L" and image.size == (5, 4)  # width, height
    assert np.array_equal(np.asarray(image), CAMS[1])
    event = _last_access()
    assert event.actor_username == "viewer_a" and event.project_id == world.project.pk
    assert event.detail | {"bytes": 0} == {
        "resource": "cam",
        "series_levels": str(levels.pk),
        "slice": "1",
        "method": "GET",
        "status": 200,
        "outcome": "ok",
        "bytes": 0,
    }
    assert event.detail["bytes"] == len(response.content)


def test_the_viewer_learns_that_cams_exist(world: World) -> None:
    series = world.objects["series_own"]
    classify(world, series, ["L2", "L3", "L3"], cams=CAMS)
    body = client_for(world.users["viewer"]).get(url(series)).json()
    assert body["model"]["has_cams"] is True


def test_the_last_slice_and_a_png_only_client(world: World) -> None:
    levels = classify(world, world.objects["series_own"], ["L2", "L3", "L3"], cams=CAMS)
    client = client_for(world.users["labeler"])
    response = client.get(_cam_url(levels.pk, 2), HTTP_ACCEPT="image/png")
    assert response.status_code == 200
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(response.content))), CAMS[2])
    missing = client.get(_cam_url(levels.pk, 3), HTTP_ACCEPT="image/png")
    assert missing.status_code == 404 and missing["Content-Type"] == "application/json"
    assert _last_access().detail["outcome"] == "not_found"


def test_a_result_without_maps_has_no_cam(world: World) -> None:
    levels = world.objects["levels_own"]  # stored without CAMs
    assert client_for(world.users["viewer"]).get(_cam_url(levels.pk, 0)).status_code == 404


def test_pixels_need_view_images_and_scope(world: World) -> None:
    own = classify(world, world.objects["series_own"], ["L3"] * 3, cams=CAMS)
    other = classify(world, world.objects["series_other"], ["L3"] * 3, cams=CAMS)
    analyst = client_for(world.users["analyst"])
    assert analyst.get(_cam_url(own.pk, 0)).status_code == 403  # results yes, pixels no
    assert _last_access().detail["outcome"] == "denied"
    labeler = client_for(world.users["labeler"])
    assert labeler.get(_cam_url(other.pk, 0)).status_code == 404  # another hospital's
    hidden = _last_access()
    assert hidden.object_id == "" and hidden.project_id is None  # nothing revealed
    assert client_for(world.users["reviewer"]).get(_cam_url(other.pk, 0)).status_code == 200
    anonymous = client_for(None).get(_cam_url(own.pk, 0))
    assert anonymous.status_code == 401 and _last_access().detail["outcome"] == "unauthenticated"
