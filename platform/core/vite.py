"""Tags for assets built by Vite (frontend/): read the build manifest
(`.vite/manifest.json`) and name the hashed files of an entry, its CSS and the
chunks it imports, as static files under settings.VITE_STATIC_PREFIX. No dev
server: the files are plain static files, in production too."""

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.templatetags.static import static
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

logger = logging.getLogger(__name__)

MANIFEST = Path(".vite") / "manifest.json"


class ViteManifestError(Exception):
    pass


@dataclass(frozen=True)
class EntryAssets:
    script: str
    css: tuple[str, ...]
    preloads: tuple[str, ...]  # statically imported chunks


def manifest_path() -> Path:
    return Path(settings.VITE_DIST_DIR) / MANIFEST


def load_manifest(path: Path) -> dict[str, Any]:
    """The manifest, re-read only when the file changes (a rebuild in DEBUG)."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise ViteManifestError(f"No Vite manifest at {path}: run `make setup`.") from exc
    return _read(str(path), mtime)


@lru_cache(maxsize=4)
def _read(path: str, mtime: int) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def entry_assets(manifest: dict[str, Any], entry: str) -> EntryAssets:
    """The entry's script, and the CSS and chunks of it and of everything it
    imports (statically, or dynamically from the app's own src/)."""
    chunk = manifest.get(entry)
    if not chunk or not chunk.get("isEntry"):
        raise ViteManifestError(f"{entry!r} is not an entry of the Vite manifest.")
    css: list[str] = []
    preloads: list[str] = []
    seen: set[str] = set()

    def visit(key: str, is_entry: bool) -> None:
        if key in seen:
            return
        seen.add(key)
        item = manifest[key]
        for imported in item.get("imports", []):
            visit(imported, False)
        # The app's own lazily imported chunks are wanted at once: fetch them
        # in parallel (libraries' optional codecs are left to load on demand).
        for imported in item.get("dynamicImports", []):
            if imported.startswith("src/"):
                visit(imported, False)
        css.extend(c for c in item.get("css", []) if c not in css)
        if not is_entry:
            preloads.append(item["file"])

    visit(entry, True)
    return EntryAssets(chunk["file"], tuple(css), tuple(preloads))


def vite_tags(entry: str) -> SafeString:
    """<link>/<script> tags of a Vite entry, or nothing (and an error in the
    log) when the viewer is not built, so other pages keep working."""
    try:
        assets = entry_assets(load_manifest(manifest_path()), entry)
    except ViteManifestError:
        logger.exception("viewer assets unavailable")
        return SafeString("")
    prefix = settings.VITE_STATIC_PREFIX

    def url(file: str) -> str:
        return static(f"{prefix}/{file}")

    css = format_html_join(
        "", '<link rel="stylesheet" href="{}">\n', ((url(c),) for c in assets.css)
    )
    preloads = format_html_join(
        "", '<link rel="modulepreload" href="{}">\n', ((url(p),) for p in assets.preloads)
    )
    script = format_html('<script type="module" src="{}"></script>', url(assets.script))
    return SafeString(css + preloads + script)
