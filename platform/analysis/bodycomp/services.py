"""Measurement downloads: who may export which rows, and the audit event of
every download (with the row count and the filters)."""

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from analysis.bodycomp import export
from analysis.bodycomp.columns import export_rows
from analysis.bodycomp.selectors import MeasurementFilters, measurement_filter, measurement_list
from audit.models import AuditAction
from audit.services import audit_record
from core.errors import Forbidden, NotFound
from projects.access import access_for, project_ids_with
from projects.roles import Capability


@dataclass(frozen=True)
class Download:
    content: bytes
    content_type: str
    filename: str
    rows: int


def measurements_export(
    *,
    user: Any,
    filters: MeasurementFilters,
    fmt: str,
    dictionary: bool = False,
    request: HttpRequest | None = None,
) -> Download:
    """Rows the user may export (EXPORT_RESULTS, in its institution scope),
    filtered, in `fmt` (csv, xlsx, parquet), or the CSV data dictionary.
    403 without the capability; 404 for a project the user is not in."""
    if fmt not in export.FORMATS:
        raise NotFound(f"No export format {fmt!r}.", extra={"formats": sorted(export.FORMATS)})
    if filters.project is not None:
        access = access_for(user, filters.project)
        if access is None:
            raise NotFound("Not found.")
        if not access.can(Capability.EXPORT_RESULTS):
            raise Forbidden(
                "Only analysts export measurements.", extra={"required": "export_results"}
            )
    elif not project_ids_with(user, Capability.EXPORT_RESULTS):
        raise Forbidden("Only analysts export measurements.", extra={"required": "export_results"})
    if dictionary and fmt == "csv":
        return Download(
            export.dictionary_csv(), export.FORMATS["csv"][0], "measurements_dictionary.csv", 0
        )
    queryset = measurement_filter(
        measurement_list(user=user, capability=Capability.EXPORT_RESULTS), filters
    ).order_by("id")
    rows = export_rows(queryset)
    content_type, write = export.FORMATS[fmt]
    content = write(rows)
    audit_record(
        action=AuditAction.DATA_DOWNLOADED,
        actor=user,
        project_id=filters.project,
        request=request,
        detail={
            "resource": "measurements",
            "format": fmt,
            "rows": len(rows),
            "bytes": len(content),
            "filters": filters.as_query(),
        },
    )
    return Download(content, content_type, f"measurements.{fmt}", len(rows))
