"""The series viewer page: who gets it, what it carries, and the Vite
manifest helper that names its hashed assets."""

import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from core.vite import ViteManifestError, entry_assets, vite_tags
from tests.conftest import World


def _get(user: Any, world: World, series: str = "series_own") -> Any:
    client = Client()
    client.force_login(user)
    return client.get(f"/projects/{world.project.pk}/series/{world.objects[series].pk}/viewer/")


@pytest.fixture
def manifest(tmp_path: Path, settings: Any) -> Path:
    """A small Vite build output in the shape Vite 8 writes."""
    settings.VITE_DIST_DIR = tmp_path
    (tmp_path / ".vite").mkdir()
    data = {
        "src/main.ts": {
            "file": "assets/main-abc123.js",
            "isEntry": True,
            "imports": ["_shared-1.js"],
            "dynamicImports": ["src/viewer/startViewer.ts", "node_modules/codec/jpeg.js"],
            "css": ["assets/main-def456.css"],
        },
        "_shared-1.js": {"file": "assets/shared-1.js", "css": ["assets/shared.css"]},
        "src/viewer/startViewer.ts": {
            "file": "assets/startViewer-9.js",
            "isDynamicEntry": True,
            "imports": ["src/main.ts"],
        },
        "node_modules/codec/jpeg.js": {"file": "assets/jpeg-1.js", "isDynamicEntry": True},
    }
    path = tmp_path / ".vite" / "manifest.json"
    path.write_text(json.dumps(data))
    return path


def test_members_with_image_rights_get_the_viewer(world: World, manifest: Path) -> None:
    for role in ("labeler", "reviewer", "viewer", "investigator"):
        response = _get(world.users[role], world)
        html = response.content.decode()
        assert response.status_code == 200, role
        assert 'id="viewer"' in html
        study = world.objects["study_own"]
        assert f'data-study-uid="{study.study_instance_uid}"' in html
        assert 'data-api-root="/api/v1"' in html and 'data-dicomweb-root="/dicomweb"' in html
        assert '<script type="module" src="/static/viewer/assets/main-abc123.js"></script>' in html
        assert "<script>" not in html  # no inline script


def test_page_names_the_classified_slices_for_an_early_first_pass(
    world: World, manifest: Path
) -> None:
    """data-known-slices lets the viewer request its first images without
    waiting for the labels API; only a complete list is sent."""
    levels = world.objects["levels_own"]
    series = world.objects["series_own"]
    series.slice_count, series.rows, series.columns = 3, 512, 512
    series.orientation = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    series.save(update_fields=["slice_count", "rows", "columns", "orientation"])
    levels.slice_sop_instance_uids = ["1.2.3", "1.2.4", "1.2.5"]
    levels.slice_positions_mm = [10.0, 7.5, 5.0]
    levels.save(update_fields=["slice_sop_instance_uids", "slice_positions_mm"])
    html = _get(world.users["viewer"], world).content.decode()
    attribute = re.search(r'data-known-slices="([^"]*)"', html)
    assert attribute is not None
    assert json.loads(unescape(attribute.group(1))) == {
        "sops": ["1.2.3", "1.2.4", "1.2.5"],
        "positions": [10.0, 7.5, 5.0],
        "rows": 512,
        "columns": 512,
        "orientation": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    }
    series.slice_count = 4  # the result misses a slice: the viewer must not trust it
    series.save(update_fields=["slice_count"])
    html = _get(world.users["viewer"], world).content.decode()
    assert 'data-known-slices=""' in html


def test_members_without_image_rights_get_no_viewer_code(world: World, manifest: Path) -> None:
    for role in ("analyst", "project_admin"):
        response = _get(world.users[role], world)
        html = response.content.decode()
        assert response.status_code == 403, role
        assert "No image access" in html
        assert 'id="viewer"' not in html and "main-abc123.js" not in html


def test_non_members_and_other_centres_get_404(world: World, manifest: Path) -> None:
    assert _get(world.users["outsider"], world).status_code == 404
    labeler_b = world.objects["membership_b"].user
    assert _get(labeler_b, world).status_code == 404  # a study of hospital A
    assert _get(labeler_b, world, "series_other").status_code == 200  # its own centre's
    client = Client()
    client.force_login(world.users["labeler"])
    other = world.objects["other_project_study"]
    response = client.get(
        f"/projects/{other.project_id}/series/{world.objects['series_own'].pk}/viewer/"
    )
    assert response.status_code == 404  # a series is only reachable through its own project


def test_viewer_page_needs_login(world: World) -> None:
    response = Client().get(
        f"/projects/{world.project.pk}/series/{world.objects['series_own'].pk}/viewer/"
    )
    assert response.status_code == 302 and response.headers["Location"].startswith("/login/")


def test_project_page_links_series_to_the_viewer(world: World) -> None:
    client = Client()
    client.force_login(world.users["labeler"])
    html = client.get(f"/projects/{world.project.pk}/").content.decode()
    series = world.objects["series_own"]
    assert f'href="/projects/{world.project.pk}/series/{series.pk}/viewer/"' in html


def test_series_description_is_escaped_on_the_viewer_page(world: World, manifest: Path) -> None:
    series = world.objects["series_own"]
    series.description = '<img src=x onerror="alert(1)">'
    series.save()
    html = _get(world.users["viewer"], world).content.decode()
    assert "<img src=x" not in html and "&lt;img src=x" in html


def test_csp_allows_wasm_but_no_eval_or_inline(world: World, manifest: Path) -> None:
    csp = _get(world.users["viewer"], world).headers["Content-Security-Policy"]
    assert "script-src 'self' 'wasm-unsafe-eval'" in csp
    assert "'unsafe-eval'" not in csp and "unsafe-inline" not in csp
    assert "worker-src 'self'" in csp


def test_manifest_helper_lists_css_preloads_and_entry(manifest: Path) -> None:
    assets = entry_assets(json.loads(manifest.read_text()), "src/main.ts")
    assert assets.script == "assets/main-abc123.js"
    assert assets.css == ("assets/shared.css", "assets/main-def456.css")
    # Shared chunks and the app's own lazy chunk are preloaded; library codecs are not.
    assert assets.preloads == ("assets/shared-1.js", "assets/startViewer-9.js")
    tags = str(vite_tags("src/main.ts"))
    assert '<link rel="stylesheet" href="/static/viewer/assets/main-def456.css">' in tags
    assert '<link rel="modulepreload" href="/static/viewer/assets/startViewer-9.js">' in tags
    assert "jpeg-1.js" not in tags


def test_manifest_helper_refuses_unknown_entries_and_survives_a_missing_build(
    manifest: Path, settings: Any, tmp_path: Path
) -> None:
    with pytest.raises(ViteManifestError):
        entry_assets(json.loads(manifest.read_text()), "src/viewer/startViewer.ts")
    settings.VITE_DIST_DIR = tmp_path / "not-built"
    assert str(vite_tags("src/main.ts")) == ""


def test_real_build_manifest_names_existing_files(settings: Any) -> None:
    """The checked-out build (make setup) is consistent: every file exists."""
    from core.vite import load_manifest, manifest_path

    path = manifest_path()
    if not path.exists():
        pytest.fail("frontend/dist is missing: run `make setup` (npm ci && npm run build)")
    assets = entry_assets(load_manifest(path), "src/main.ts")
    for file in (assets.script, *assets.css, *assets.preloads):
        assert (Path(settings.VITE_DIST_DIR) / file).is_file(), file
