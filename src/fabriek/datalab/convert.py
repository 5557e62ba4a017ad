"""CSV and JSON lines to Parquet with DuckDB, streamed from file to file.

`COPY (SELECT * FROM read_csv(...)) TO ... (FORMAT parquet, COMPRESSION zstd)` never holds the
table in memory: DuckDB reads, converts and writes row groups as it goes. The result is written
under a temporary name beside where it will be stored and hashed (SHA-256) as it is read back,
so the caller can put it in the content-addressed store under its digest.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from fabriek.datalab.duck import (
    EngineLimits,
    Progress,
    TabularFormat,
    describe,
    engine,
    first_line,
    run_query,
    source_sql,
)
from fabriek.errors import BadRequest, ValidationFailed

PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Converted:
    path: Path
    sha256: str
    size: int
    rows: int
    columns: list[tuple[str, str]]


def sha256_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def to_parquet(source: Path, fmt: TabularFormat, work_dir: Path, *,
               limits: EngineLimits | None = None, progress: Progress | None = None,
               ) -> Converted:
    """Convert one file; the Parquet file is left in `work_dir` for the caller to store (and
    removed again if anything fails). A CSV whose later rows break the type the sniffer
    guessed from the first ones is converted again with the whole file sniffed."""
    if fmt is TabularFormat.parquet:
        raise BadRequest("the distribution is Parquet already")
    work_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="convert-", suffix=".parquet", dir=work_dir)
    os.close(fd)
    target = Path(name)
    try:
        with engine(limits) as con:
            try:
                rows, columns = _copy(con, source, fmt, target, full_sniff=False,
                                      progress=progress)
            except duckdb.ConversionException:
                if not fmt.is_csv:
                    raise
                rows, columns = _copy(con, source, fmt, target, full_sniff=True,
                                      progress=progress)
        if progress:
            progress(0.95, "computing the checksum")
        digest, size = sha256_file(target)
    except duckdb.Error as exc:
        target.unlink(missing_ok=True)
        raise ValidationFailed(f"cannot convert the file from {fmt.value}: {first_line(exc)}"
                               ) from exc
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if progress:
        progress(1.0, "converted")
    return Converted(path=target, sha256=digest, size=size, rows=rows, columns=columns)


def _copy(con: duckdb.DuckDBPyConnection, source: Path, fmt: TabularFormat, target: Path, *,
          full_sniff: bool, progress: Progress | None) -> tuple[int, list[tuple[str, str]]]:
    src = source_sql(source, fmt, full_sniff=full_sniff)
    columns = describe(con, src)
    if not columns:
        raise ValidationFailed("the file has no columns")
    out = "'" + str(target).replace("'", "''") + "'"
    rows = run_query(con, f"COPY (SELECT * FROM {src}) TO {out} "
                          "(FORMAT parquet, COMPRESSION zstd)",
                     progress=progress, span=(0.0, 0.95), message="converting to Parquet")
    return int(rows[0][0]) if rows else 0, columns
