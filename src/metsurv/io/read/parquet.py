"""Parquet files, read with pyarrow; nested and binary columns are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from metsurv.io.read._common import (
    RawTable,
    _finish,
    _record_numbers,
    _sha256,
)
from metsurv.io.read.errors import brief, refusal

# Parquet
# --------------------------------------------------------------------------------------


def _read_parquet(path: Path, name: str) -> RawTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sha = _sha256(path, name)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size >= 8:
            fh.seek(size - 4)
            tail = fh.read(4)
        else:
            tail = b""
    if size < 12 or tail != b"PAR1":
        raise refusal(name, "the Parquet file is incomplete (it does not end with the Parquet "
                      "footer)", "copy or export the file again")
    try:
        with pa.OSFile(str(path.resolve())) as fh:  # a local file, never a URI
            table = pq.read_table(fh)
        frame = table.to_pandas(date_as_object=False)
        _exact_integers(frame, table)
    except Exception as exc:
        raise refusal(name, f"the Parquet file is damaged or cannot be read ({brief(exc, 120)})",
                      "copy or export the file again") from exc
    if not (isinstance(frame.index, pd.RangeIndex)):
        if any(n is not None for n in frame.index.names):
            frame = frame.reset_index()
        else:
            frame = frame.reset_index(drop=True)
    frame = _finish(frame, name)
    return RawTable(frame=frame, source=name, format="parquet",
                    rows=_record_numbers(len(frame)), sha256=sha, encoding=None,
                    delimiter=None, decimal=".")


def _exact_integers(frame: pd.DataFrame, table: Any) -> None:
    """Integer columns with a null as nullable Int64/UInt64, not float64: an id above 2**53
    must not be rounded (two ids would then collide)."""
    import pyarrow as pa

    for i, fld in enumerate(table.schema):
        col = table.column(i)
        if pa.types.is_integer(fld.type) and col.null_count:
            dtype = pd.UInt64Dtype() if pa.types.is_uint64(fld.type) else pd.Int64Dtype()
            frame.isetitem(i, col.to_pandas(types_mapper=lambda _t, d=dtype: d))


# --------------------------------------------------------------------------------------
