"""Profiling and validation of a tabular file (CSV, JSON lines, Parquet) with DuckDB.

The file is never loaded into Python: DuckDB streams it and only aggregates come back. A
profile takes two passes at most: one for every column's figures at once (counts, missing,
approximate distinct count, min/max/mean, the most frequent text values by DuckDB's
approx_top_k), and, when there are text columns, one to count those top values exactly.
Validation checks an expected schema (columns, types, nullability, ranges, allowed values,
patterns, uniqueness) in one pass of `count(*) FILTER (...)` aggregates, and reads examples
only for the rules that failed.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fabriek.datalab.duck import (
    EngineLimits,
    Progress,
    TabularFormat,
    describe,
    engine,
    first_line,
    open_source,
    quote_ident,
    run_query,
    source_sql,
)
from fabriek.errors import ValidationFailed

Kind = Literal["integer", "number", "boolean", "date", "timestamp", "time", "text", "other"]
TOP_VALUES = 5
EXAMPLES = 5
MAX_EXAMPLE_CHARS = 80


def kind_of(duck_type: str) -> Kind:
    """The family of a DuckDB type name, as the profile and the schema speak of it."""
    t = duck_type.upper()
    if t in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
             "UINTEGER", "UBIGINT", "UHUGEINT"}:
        return "integer"
    if t in {"FLOAT", "DOUBLE", "REAL"} or t.startswith("DECIMAL"):
        return "number"
    if t == "BOOLEAN":
        return "boolean"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    if t.startswith("TIME"):
        return "time"
    if t in {"VARCHAR", "UUID"} or t.startswith("ENUM"):
        return "text"
    return "other"  # lists, structs, maps, blobs from JSON or Parquet: counted, not described


def plain(value: Any) -> Any:
    """A JSON-safe form of what DuckDB returns (NaN and infinities become None)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def clip(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_EXAMPLE_CHARS else text[: MAX_EXAMPLE_CHARS - 1] + "…"


# --- the profile --------------------------------------------------------------------------


class TopValue(BaseModel):
    value: str
    count: int


class ColumnProfile(BaseModel):
    name: str
    type: str = Field(description="DuckDB's type of the column.")
    kind: Kind
    count: int = Field(description="Values present (not missing).")
    missing: int
    distinct_approx: int | None = Field(
        default=None, description="HyperLogLog estimate (a few per cent off on large columns).")
    min: Any = None
    max: Any = None
    mean: float | None = None
    true_count: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    top_values: list[TopValue] = Field(default_factory=list)


class Profile(BaseModel):
    format: TabularFormat
    rows: int
    columns: list[ColumnProfile]


def _profile_parts(col: str, kind: Kind) -> list[tuple[str, str]]:
    """(field, SQL aggregate) for one column."""
    q = quote_ident(col)
    parts = [("count", f"count({q})")]
    if kind in {"integer", "number", "text", "date", "timestamp", "time", "boolean"}:
        parts.append(("distinct_approx", f"approx_count_distinct({q})"))
    if kind in {"integer", "number"}:
        parts += [("min", f"min({q})"), ("max", f"max({q})"), ("mean", f"avg({q})")]
    elif kind in {"date", "timestamp", "time"}:
        parts += [("min", f"min({q})"), ("max", f"max({q})")]
    elif kind == "boolean":
        parts.append(("true_count", f"count_if({q})"))
    elif kind == "text":
        parts += [("min_length", f"min(length({q}))"), ("max_length", f"max(length({q}))"),
                  ("top", f"approx_top_k({q}, {TOP_VALUES})")]
    return parts


def profile(path: Path, fmt: TabularFormat, *, limits: EngineLimits | None = None,
            progress: Progress | None = None) -> Profile:
    """Every column's type and figures. A CSV whose first rows made the sniffer guess a type
    that a later row breaks is read again with the whole file sniffed."""
    with engine(limits) as con:
        try:
            return _profile(con, path, fmt, full_sniff=False, progress=progress)
        except duckdb.ConversionException:
            if not fmt.is_csv:
                raise
        except duckdb.Error as exc:
            raise ValidationFailed(f"cannot read the file as {fmt.value}: {first_line(exc)}"
                                   ) from exc
        try:
            return _profile(con, path, fmt, full_sniff=True, progress=progress)
        except duckdb.Error as exc:
            raise ValidationFailed(f"cannot read the file as {fmt.value}: {first_line(exc)}"
                                   ) from exc


def _profile(con: duckdb.DuckDBPyConnection, path: Path, fmt: TabularFormat, *,
             full_sniff: bool, progress: Progress | None) -> Profile:
    if full_sniff:
        source = source_sql(path, fmt, full_sniff=True)
        columns = describe(con, source)
    else:
        source, columns = open_source(con, path, fmt)
    kinds = {name: kind_of(t) for name, t in columns}
    texts = [name for name, _ in columns if kinds[name] == "text"]
    if progress:
        progress(0.0, "reading the file")
    selects = ["count(*)"]
    layout: list[tuple[str, str]] = []
    for name, _ in columns:
        for field, sql in _profile_parts(name, kinds[name]):
            selects.append(sql)
            layout.append((name, field))
    first_span = (0.0, 0.5 if texts else 1.0)
    row = run_query(con, f"SELECT {', '.join(selects)} FROM {source}", progress=progress,
                    span=first_span, message="column figures")[0]
    total = int(row[0])
    figures: dict[str, dict[str, Any]] = {name: {} for name, _ in columns}
    for (name, field), value in zip(layout, row[1:], strict=True):
        figures[name][field] = value
    top_counts = _count_top_values(con, source, texts, figures, progress) if texts else {}
    result = []
    for name, duck_type in columns:
        f = figures[name]
        count = int(f["count"])
        mean = plain(f.get("mean"))
        result.append(ColumnProfile(
            name=name, type=duck_type, kind=kinds[name], count=count, missing=total - count,
            distinct_approx=f.get("distinct_approx"), min=plain(f.get("min")),
            max=plain(f.get("max")), mean=float(mean) if mean is not None else None,
            true_count=f.get("true_count"), min_length=f.get("min_length"),
            max_length=f.get("max_length"), top_values=top_counts.get(name, [])))
    return Profile(format=fmt, rows=total, columns=result)


def _count_top_values(con: duckdb.DuckDBPyConnection, source: str, texts: list[str],
                      figures: dict[str, dict[str, Any]], progress: Progress | None,
                      ) -> dict[str, list[TopValue]]:
    """Exact counts of the values approx_top_k named, all columns in one pass."""
    selects: list[str] = []
    params: list[Any] = []
    layout: list[tuple[str, str]] = []
    for name in texts:
        for value in figures[name].get("top") or []:
            if value is None:
                continue
            selects.append(f"count(*) FILTER (WHERE {quote_ident(name)} = ?)")
            params.append(value)
            layout.append((name, value))
    if not selects:
        return {}
    row = run_query(con, f"SELECT {', '.join(selects)} FROM {source}", params,
                    progress=progress, span=(0.5, 1.0), message="most frequent values")[0]
    out: dict[str, list[TopValue]] = {}
    for (name, value), count in zip(layout, row, strict=True):
        out.setdefault(name, []).append(TopValue(value=clip(value), count=int(count)))
    for values in out.values():
        values.sort(key=lambda v: (-v.count, v.value))
    return out


# --- validation against an expected schema --------------------------------------------------

ExpectedType = Literal["integer", "number", "text", "boolean", "date", "timestamp"]
Rule = Literal["column-missing", "column-unexpected", "type", "not-null", "min", "max",
               "allowed", "pattern", "unique"]
_ORDERED = {"integer", "number", "date", "timestamp"}


class ColumnRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=300)
    type: ExpectedType | None = None
    nullable: bool = True
    min: int | float | str | None = Field(
        default=None, description="Smallest allowed value: a number, or an ISO date/time for "
                                  "date and timestamp columns.")
    max: int | float | str | None = None
    allowed: list[str | int | float | bool] | None = Field(default=None, max_length=1000)
    pattern: str | None = Field(default=None, max_length=500,
                                description="A regular expression every value must match whole.")
    unique: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from exc
        return v

    @model_validator(mode="after")
    def _range_fits_type(self) -> ColumnRule:
        if (self.min is not None or self.max is not None):
            if self.type not in _ORDERED:
                raise ValueError(f"column {self.name!r}: min/max need type integer, number, "
                                 "date or timestamp")
            for bound in (self.min, self.max):
                if bound is None:
                    continue
                if self.type in {"integer", "number"} and not isinstance(bound, int | float):
                    raise ValueError(f"column {self.name!r}: min/max must be numbers")
                if self.type in {"date", "timestamp"}:
                    try:
                        datetime.fromisoformat(str(bound))
                    except ValueError as exc:
                        raise ValueError(f"column {self.name!r}: min/max must be ISO dates"
                                         ) from exc
        return self


class ExpectedSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    columns: list[ColumnRule] = Field(min_length=1, max_length=2000)
    allow_extra_columns: bool = True

    @model_validator(mode="after")
    def _unique_names(self) -> ExpectedSchema:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError("a column is named twice in the schema")
        return self


class Example(BaseModel):
    row: int | None = Field(description="1-based data row (the header is not counted).")
    value: str | None


class Violation(BaseModel):
    column: str
    rule: Rule
    count: int
    detail: str
    examples: list[Example] = Field(default_factory=list)


class ValidationReport(BaseModel):
    format: TabularFormat
    rows: int
    valid: bool
    violations: list[Violation]


def _type_condition(col: str, native: Kind, expected: ExpectedType) -> str | None:
    """SQL true for a present value that is not of the expected type; None when the column's
    own type already guarantees it."""
    q = quote_ident(col)
    s = f"CAST({q} AS VARCHAR)"
    if expected == "text":
        return None
    if expected == "integer":
        if native == "integer":
            return None
        if native == "number":
            return f"({q} IS NOT NULL AND (NOT isfinite({q}) OR {q} <> trunc({q})))"
        return f"({q} IS NOT NULL AND NOT regexp_full_match(trim({s}), '[+-]?[0-9]+'))"
    if expected == "number":
        if native in {"integer", "number"}:
            return None
        return f"({q} IS NOT NULL AND TRY_CAST(trim({s}) AS DOUBLE) IS NULL)"
    if expected == "boolean":
        if native == "boolean":
            return None
        return f"({q} IS NOT NULL AND TRY_CAST(trim({s}) AS BOOLEAN) IS NULL)"
    if expected == "date":
        if native == "date":
            return None
        if native == "timestamp":
            return f"({q} IS NOT NULL AND CAST({q} AS TIMESTAMP) <> date_trunc('day', {q}))"
        return f"({q} IS NOT NULL AND TRY_CAST(trim({s}) AS DATE) IS NULL)"
    if native in {"date", "timestamp"}:  # expected timestamp
        return None
    return f"({q} IS NOT NULL AND TRY_CAST(trim({s}) AS TIMESTAMP) IS NULL)"


def _rule_conditions(rule: ColumnRule, native: Kind) -> list[tuple[Rule, str, list[Any], str]]:
    """(rule, SQL condition for a violating row, its parameters, a sentence) per check."""
    q = quote_ident(rule.name)
    s = f"CAST({q} AS VARCHAR)"
    out: list[tuple[Rule, str, list[Any], str]] = []
    if rule.type is not None:
        cond = _type_condition(rule.name, native, rule.type)
        if cond is not None:
            out.append(("type", cond, [], f"values that are not {rule.type}"))
    if not rule.nullable:
        # An empty CSV cell reads as NULL; an all-blank text counts as missing too.
        blank = f" OR trim({s}) = ''" if native == "text" else ""
        out.append(("not-null", f"({q} IS NULL{blank})", [], "missing values"))
    if rule.type in {"integer", "number"}:
        typed = f"TRY_CAST(trim({s}) AS DOUBLE)"
    else:
        typed = f"TRY_CAST(trim({s}) AS TIMESTAMP)"
    for bound, op, name in ((rule.min, "<", "min"), (rule.max, ">", "max")):
        if bound is None:
            continue
        value: Any = float(bound) if rule.type in {"integer", "number"} else \
            datetime.fromisoformat(str(bound))
        out.append((name, f"({typed} {op} ?)", [value],  # type: ignore[arg-type]
                    f"values {'below' if op == '<' else 'above'} {bound}"))
    if rule.allowed is not None:
        allowed = [_as_text(v) for v in rule.allowed]
        out.append(("allowed", f"({q} IS NOT NULL AND NOT list_contains(?, {s}))", [allowed],
                    f"values outside the {len(allowed)} allowed"))
    if rule.pattern is not None:
        out.append(("pattern", f"({q} IS NOT NULL AND NOT regexp_full_match({s}, ?))",
                    [rule.pattern], f"values not matching {rule.pattern!r}"))
    return out


def _as_text(v: str | int | float | bool) -> str:
    """How DuckDB writes a value as VARCHAR (so `allowed` compares like with like)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def validate(path: Path, fmt: TabularFormat, schema: ExpectedSchema, *,
             limits: EngineLimits | None = None,
             progress: Progress | None = None) -> ValidationReport:
    """Every violation of `schema` in the file, each with its count and a few examples."""
    with engine(limits) as con:
        # CSV is read as text, so a bad value is a counted violation, not a scan error.
        source = source_sql(path, fmt, all_varchar=True)
        try:
            columns = dict(describe(con, source))
            return _validate(con, source, columns, fmt, schema, progress)
        except duckdb.Error as exc:
            raise ValidationFailed(f"cannot read the file as {fmt.value}: {first_line(exc)}"
                                   ) from exc


def _validate(con: duckdb.DuckDBPyConnection, source: str, columns: dict[str, str],
              fmt: TabularFormat, schema: ExpectedSchema,
              progress: Progress | None) -> ValidationReport:
    violations: list[Violation] = []
    expected = {c.name for c in schema.columns}
    for rule in schema.columns:
        if rule.name not in columns:
            violations.append(Violation(column=rule.name, rule="column-missing", count=1,
                                        detail="the file has no such column"))
    if not schema.allow_extra_columns:
        for name in columns:
            if name not in expected:
                violations.append(Violation(column=name, rule="column-unexpected", count=1,
                                            detail="a column the schema does not name"))
    checks: list[tuple[str, Rule, str, list[Any], str]] = []
    uniques: list[str] = []
    for rule in schema.columns:
        if rule.name not in columns:
            continue
        native = kind_of(columns[rule.name])
        for name, cond, params, detail in _rule_conditions(rule, native):
            checks.append((rule.name, name, cond, params, detail))
        if rule.unique:
            uniques.append(rule.name)
    selects = ["count(*)"]
    params: list[Any] = []
    for _, _, cond, p, _ in checks:
        selects.append(f"count(*) FILTER (WHERE {cond})")
        params += p
    for name in uniques:
        selects.append(f"count({quote_ident(name)}) - count(DISTINCT {quote_ident(name)})")
    row = run_query(con, f"SELECT {', '.join(selects)} FROM {source}", params,
                    progress=progress, span=(0.0, 0.8), message="checking the rules")[0]
    total = int(row[0])
    counts = row[1:]
    failed = [(c, int(n)) for c, n in zip(checks, counts[: len(checks)], strict=True) if n]
    if failed:
        # One more pass for every broken rule's first examples: row numbers need a window
        # over the file (only the columns involved), and min_by(…, rn, n) keeps the first n
        # matches per rule without collecting the rest.
        involved = sorted({column for (column, *_), _ in failed})
        selects, example_params = [], []
        for (column, _, cond, p, _), _ in failed:
            # A struct, as min_by skips NULL arguments (the missing values are examples too).
            selects.append(f"min_by({{'rn': rn, 'v': CAST({quote_ident(column)} AS VARCHAR)}}, "
                           f"rn, {EXAMPLES}) FILTER (WHERE {cond})")
            example_params += p
        inner = ", ".join(quote_ident(c) for c in involved)
        found = run_query(
            con, f"SELECT {', '.join(selects)} FROM (SELECT row_number() OVER () AS rn, "
                 f"{inner} FROM {source})", example_params, progress=progress,
            span=(0.8, 1.0), message="reading examples")[0]
        for ((column, name, _, _, detail), n), examples in zip(failed, found, strict=True):
            violations.append(Violation(
                column=column, rule=name, count=n, detail=detail,
                examples=[Example(row=int(e["rn"]), value=None if e["v"] is None
                                  else clip(e["v"])) for e in examples or []]))
    for name, n in zip(uniques, counts[len(checks):], strict=True):
        if not n:
            continue
        q = quote_ident(name)
        dupes = con.execute(f"SELECT CAST({q} AS VARCHAR), count(*) AS n FROM {source} "
                            f"WHERE {q} IS NOT NULL GROUP BY ALL HAVING n > 1 "
                            f"ORDER BY n DESC, 1 LIMIT {EXAMPLES}").fetchall()
        violations.append(Violation(
            column=name, rule="unique", count=int(n), detail="repeated values",
            examples=[Example(row=None, value=f"{clip(v)} (×{c})") for v, c in dupes]))
    if progress:
        progress(1.0, "validated")
    order = {c.name: i for i, c in enumerate(schema.columns)}
    violations.sort(key=lambda v: (order.get(v.column, len(order)), v.column))
    return ValidationReport(format=fmt, rows=total, valid=not violations, violations=violations)
