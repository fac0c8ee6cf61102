"""Measurement exports as CSV, XLSX and Parquet: one row per (job, level)
with the values, the status and issues (a null value always has a non-ok
status; never a zero) and the provenance (columns.py). The data dictionary
goes with every format."""

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from analysis.bodycomp.columns import COLUMNS

DICTIONARY_FIELDS = ("column", "type", "unit", "description")


def dictionary_rows() -> list[dict[str, str]]:
    return [
        {"column": c.name, "type": c.type, "unit": c.unit, "description": c.description}
        for c in COLUMNS
    ]


def _text(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def to_csv(rows: list[list[Any]]) -> bytes:
    """UTF-8 CSV; null values are empty cells."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.name for c in COLUMNS])
    writer.writerows([["" if v is None else _text(v) for v in row] for row in rows])
    return out.getvalue().encode()


def dictionary_csv() -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=DICTIONARY_FIELDS)
    writer.writeheader()
    writer.writerows(dictionary_rows())
    return out.getvalue().encode()


def to_xlsx(rows: list[list[Any]]) -> bytes:
    """Sheet "measurements" (empty cells for nulls) and sheet "dictionary"."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("measurements")
    sheet.append([c.name for c in COLUMNS])
    for row in rows:
        # Excel has no time zones: datetimes go out as ISO 8601 text in UTC.
        sheet.append([_text(v) for v in row])
    dictionary = book.create_sheet("dictionary")
    dictionary.append(list(DICTIONARY_FIELDS))
    for entry in dictionary_rows():
        dictionary.append([entry[k] for k in DICTIONARY_FIELDS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_parquet(rows: list[list[Any]]) -> bytes:
    """Typed columns (nulls stay null); the dictionary is each field's metadata
    (keys unit, description) and the schema's "data_dictionary" (JSON)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"string": pa.string(), "integer": pa.int64(), "float": pa.float64(),
             "datetime": pa.timestamp("us", tz="UTC")}  # fmt: skip
    fields = [
        pa.field(c.name, types[c.type], metadata={"unit": c.unit, "description": c.description})
        for c in COLUMNS
    ]
    schema = pa.schema(fields, metadata={"data_dictionary": json.dumps(dictionary_rows())})
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in COLUMNS]
    table = pa.Table.from_arrays(
        [pa.array(list(col), type=f.type) for col, f in zip(columns, fields, strict=True)],
        schema=schema,
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


FORMATS: dict[str, tuple[str, Callable[[list[list[Any]]], bytes]]] = {
    "csv": ("text/csv; charset=utf-8", to_csv),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", to_xlsx),
    "parquet": ("application/vnd.apache.parquet", to_parquet),
}
