"""Product CSV export, produced lazily so large catalogs stream instead of buffering."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from legacy_monolith.catalog.legacy_json import product_csv_header, product_csv_row
from legacy_monolith.catalog.selectors import products_for_export

ROWS_PER_CHUNK = 100


class _LineBuffer:
    """csv.writer wants a file; this one just hands each formatted line back."""

    def write(self, line: str) -> str:
        return line


def product_csv_chunks(rows_per_chunk: int = ROWS_PER_CHUNK) -> Iterator[str]:
    writer = csv.writer(_LineBuffer())
    pending: list[str] = [writer.writerow(product_csv_header())]
    for product in products_for_export():
        pending.append(writer.writerow(product_csv_row(product)))
        if len(pending) >= rows_per_chunk:
            yield "".join(pending)
            pending = []
    if pending:
        yield "".join(pending)
