"""DuckDB, the engine of the dataset services: connections with bounded memory and a way to
read a distribution's file in SQL without loading it into Python.

Every service reads through `source_sql`, so DuckDB streams the file (CSV, JSON lines or
Parquet) and spills to a temporary directory when an operator (a GROUP BY, a sort) needs more
than `memory_limit`. Nothing here imports the database layer: these functions take paths.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import duckdb

from fabriek.errors import BadRequest, ValidationFailed

Progress = Callable[[float, str], None]
"""Called with a fraction 0..1 and a short message."""


class TabularFormat(StrEnum):
    csv = "csv"  # also TSV and other delimiters: DuckDB's sniffer finds the delimiter
    csv_gz = "csv.gz"
    jsonl = "jsonl"  # JSON lines, or one JSON array of objects (DuckDB tells them apart)
    parquet = "parquet"

    @property
    def is_csv(self) -> bool:
        return self in (TabularFormat.csv, TabularFormat.csv_gz)


# Media types and extensions a distribution may carry, mapped to the reader that opens it.
_BY_NAME: dict[str, TabularFormat] = {
    "csv": TabularFormat.csv, "text/csv": TabularFormat.csv, ".csv": TabularFormat.csv,
    "tsv": TabularFormat.csv, ".tsv": TabularFormat.csv,
    "text/tab-separated-values": TabularFormat.csv,
    "csv.gz": TabularFormat.csv_gz, ".csv.gz": TabularFormat.csv_gz,
    "jsonl": TabularFormat.jsonl, "ndjson": TabularFormat.jsonl, "json": TabularFormat.jsonl,
    ".jsonl": TabularFormat.jsonl, ".ndjson": TabularFormat.jsonl, ".json": TabularFormat.jsonl,
    "application/json": TabularFormat.jsonl, "application/x-ndjson": TabularFormat.jsonl,
    "application/jsonl": TabularFormat.jsonl, "application/ld+json": TabularFormat.jsonl,
    "parquet": TabularFormat.parquet, ".parquet": TabularFormat.parquet,
    "application/vnd.apache.parquet": TabularFormat.parquet,
    "application/x-parquet": TabularFormat.parquet,
}


def tabular_format(name: str | None, path: Path | None = None) -> TabularFormat:
    """The reader for a format name or media type (or, failing that, the file's extension)."""
    if path is not None and path.name.lower().endswith(".csv.gz"):
        return TabularFormat.csv_gz  # its media type (application/gzip) says only "gzip"
    for key in (name, path.suffix if path is not None else None):
        if key:
            fmt = _BY_NAME.get(key.strip().lower().split(";")[0].strip())
            if fmt is not None:
                return fmt
    raise BadRequest(f"not a tabular format the services read: {name or path}; "
                     "they read CSV, JSON lines and Parquet")


@dataclass(frozen=True)
class EngineLimits:
    """What one DuckDB connection may use. The defaults suit a 2-core machine shared with the
    API: half the cores would starve the web threads, all of memory would starve everything."""

    memory_limit: str = "1GB"
    threads: int = 2
    temp_directory: Path | None = None


def connect(limits: EngineLimits | None = None) -> duckdb.DuckDBPyConnection:
    limits = limits or EngineLimits()
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = '{_size(limits.memory_limit)}'")
    con.execute(f"SET threads = {int(limits.threads)}")
    if limits.temp_directory is not None:
        con.execute("SET temp_directory = ?", [str(limits.temp_directory)])
    # The services report progress themselves (query_progress); never draw on stdout.
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    return con


def _size(text: str) -> str:
    cleaned = text.strip().upper().replace(" ", "")
    number = cleaned.rstrip("KMGTIB")
    if not number.replace(".", "", 1).isdigit() or cleaned[len(number):] not in {
            "", "B", "KB", "MB", "GB", "TB", "KIB", "MIB", "GIB", "TIB"}:
        raise ValueError(f"not a memory size: {text!r}")
    return cleaned


def _literal(path: Path) -> str:
    """A SQL string literal of a path (DuckDB's table functions take no bound parameters in
    every position, so the path is quoted here; a quote inside it is doubled)."""
    return "'" + str(path).replace("'", "''") + "'"


def source_sql(path: Path, fmt: TabularFormat, *, all_varchar: bool = False,
               full_sniff: bool = False) -> str:
    """A FROM-clause item that streams the file. `all_varchar` reads CSV cells as text (so a
    validator sees every bad value instead of a scan error); `full_sniff` makes the CSV sniffer
    read the whole file to choose column types (one more pass, used after a type guessed from
    the first rows failed further down)."""
    if not path.is_file():
        raise BadRequest(f"no such file: {path.name}")
    p = _literal(path)
    if fmt.is_csv:
        options = ["header = true"]
        if fmt is TabularFormat.csv_gz:
            options.append("compression = 'gzip'")
        if all_varchar:
            options.append("all_varchar = true")
        if full_sniff:
            options.append("sample_size = -1")
        return f"read_csv({p}, {', '.join(options)})"
    if fmt is TabularFormat.jsonl:
        return f"read_json({p}, format = 'auto')"
    return f"read_parquet({p})"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def describe(con: duckdb.DuckDBPyConnection, source: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of a source, in file order."""
    rows = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def open_source(con: duckdb.DuckDBPyConnection, path: Path, fmt: TabularFormat,
                ) -> tuple[str, list[tuple[str, str]]]:
    """The FROM item and its columns, with the file's faults turned into clear errors."""
    source = source_sql(path, fmt)
    try:
        return source, describe(con, source)
    except duckdb.Error as exc:
        raise ValidationFailed(f"cannot read the file as {fmt.value}: {first_line(exc)}") from exc


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def run_query(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None, *,
              progress: Progress | None = None, span: tuple[float, float] = (0.0, 1.0),
              message: str = "", poll_seconds: float = 0.25) -> list[tuple[Any, ...]]:
    """Run one query to the end and return its rows, reporting DuckDB's own progress estimate
    (scaled into `span`) while it runs. DuckDB allows query_progress() from another thread."""
    if progress is None:
        return con.execute(sql, params or []).fetchall()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["rows"] = con.execute(sql, params or []).fetchall()
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=work, name="duckdb-query", daemon=True)
    thread.start()
    low, high = span
    try:
        while True:
            thread.join(poll_seconds)
            if not thread.is_alive():
                break
            done = con.query_progress()
            if done >= 0:
                progress(low + (high - low) * min(done, 100.0) / 100.0, message)
    except BaseException:
        # The caller gives up (e.g. its lease was lost): stop DuckDB before the connection
        # is closed under the running query.
        con.interrupt()
        thread.join()
        raise
    if "error" in outcome:
        raise outcome["error"]
    progress(high, message)
    return outcome["rows"]


@contextmanager
def engine(limits: EngineLimits | None = None):  # type: ignore[no-untyped-def]
    con = connect(limits)
    try:
        yield con
    finally:
        con.close()
