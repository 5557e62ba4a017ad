"""Synthetic data from a tabular file: synthpop-py's CART synthesis on a sample of the rows.

Why synthpop-py, not SDV or copulas (measured on the 2-core machine, November 2026):
SDV 2.0 and copulas 0.14 are under the Business Source License 1.1, not an open-source
licence, and its additional use grant excludes a "Synthetic Data Creation Service": a
commercial offering that lets third parties use their synthesis, which is what a data lab
that offers synthetic data to applicants is. SDV also pulls in 17 packages (about 194 MB
beside torch: boto3/botocore, plotly, graphviz, sdmetrics, ctgan, deepecho, rdt) and takes
3.2–3.8 s to import. synthpop-py (EUPL-1.2, like Fabriek; by DUO, the Dutch education
executive agency) is the Python version of the R package synthpop, the established method of
statistical disclosure control: each column is drawn from a classification or regression tree
on the columns before it. It needs pandas, scikit-learn and plotly, imports in about 1 s, and
fits 5,000 rows × 6 columns in 0.2 s.

The sample (`fit_rows`, default 5,000) is drawn by DuckDB's reservoir sampling, so only it
reaches Python. The output keeps the schema: the same columns in the same order, cast back to
each column's DuckDB type; numbers and dates inside the observed range; text values from the
observed set. Text columns with many distinct values (identifiers, free text, perhaps names)
are not learned: copying them would copy people; they are filled with neutral placeholders
("<column>-000001") and the result says which.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from fabriek.datalab.convert import sha256_file
from fabriek.datalab.duck import (
    EngineLimits,
    Progress,
    TabularFormat,
    engine,
    first_line,
    open_source,
    quote_ident,
    run_query,
)
from fabriek.datalab.profiling import kind_of
from fabriek.errors import BadRequest, Unavailable, ValidationFailed

FIT_ROWS = 5_000
MAX_ROWS = 1_000_000
# A text column is categorical (synthesised from its observed values) when it has at most
# this many distinct values in the sample, or when values repeat enough (distinct ≤ half of
# the non-missing ones); otherwise its values are replaced, never copied.
MAX_CATEGORIES = 50


@dataclass
class Synthesised:
    path: Path
    sha256: str
    size: int
    rows: int
    fit_rows: int
    columns: list[tuple[str, str]]
    replaced: list[str] = field(default_factory=list)
    method: str = "synthpop-py CART"


def _categorical(distinct: int, present: int) -> bool:
    return distinct <= MAX_CATEGORIES or (present > 0 and distinct <= present / 2)


def synthesise(path: Path, fmt: TabularFormat, work_dir: Path, *, rows: int | None = None,
               fit_rows: int = FIT_ROWS, seed: int = 1, out_format: TabularFormat =
               TabularFormat.parquet, limits: EngineLimits | None = None,
               progress: Progress | None = None) -> Synthesised:
    """Fit on a sample of at most `fit_rows` rows and write `rows` synthetic rows (default:
    as many as the sample) to a new file in `work_dir` (removed again on failure)."""
    if fit_rows < 10:
        raise BadRequest("fit_rows must be at least 10")
    if rows is not None and not 1 <= rows <= MAX_ROWS:
        raise BadRequest(f"rows must be between 1 and {MAX_ROWS}")
    if out_format is TabularFormat.jsonl:
        raise BadRequest("synthetic data is written as Parquet or CSV")
    report = progress or (lambda _f, _m: None)
    work_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="synthetic-", suffix=f".{out_format.value}",
                                dir=work_dir)
    os.close(fd)
    target = Path(name)
    try:
        with engine(limits) as con:
            source, columns = open_source(con, path, fmt)
            if not columns:
                raise ValidationFailed("the file has no columns")
            report(0.05, f"sampling at most {fit_rows} rows")
            try:
                sample = con.execute(
                    f"SELECT * FROM {source} USING SAMPLE reservoir({int(fit_rows)} ROWS) "
                    f"REPEATABLE ({int(seed)})").df()
            except duckdb.Error as exc:
                raise ValidationFailed(f"cannot read the file as {fmt.value}: "
                                       f"{first_line(exc)}") from exc
            if len(sample) < 2:
                raise ValidationFailed("too few rows to learn from (at least 2 are needed)")
            report(0.2, f"learning from {len(sample)} rows")
            synthetic, replaced = _fit_and_generate(sample, columns, rows or len(sample), seed)
            report(0.8, "writing the synthetic rows")
            _write(con, synthetic, columns, target, out_format)
        digest, size = sha256_file(target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    report(1.0, "synthesised")
    return Synthesised(path=target, sha256=digest, size=size, rows=len(synthetic),
                       fit_rows=len(sample), columns=columns, replaced=replaced)


def _fit_and_generate(sample: Any, columns: list[tuple[str, str]], n: int, seed: int,
                      ) -> tuple[Any, list[str]]:
    try:  # imported here: only this service needs them (~1 s)
        import numpy as np
        import pandas as pd
        from synthpop import Synthesiser
    except ImportError as exc:
        raise Unavailable("synthetic data needs the datalab extra on the server: "
                          "pip install 'fabriek[datalab]'") from exc

    learn = pd.DataFrame(index=sample.index)
    replaced: list[str] = []
    observed: dict[str, Any] = {}
    for name, duck_type in columns:
        kind = kind_of(duck_type)
        col = sample[name]
        present = col.dropna()
        if kind in {"integer", "number"}:
            learn[name] = pd.to_numeric(col, errors="coerce").astype("float64")
            observed[name] = np.unique(learn[name].dropna().to_numpy())
        elif kind in {"date", "timestamp"}:
            # Learned as microseconds since the epoch, turned back into dates after.
            stamps = pd.to_datetime(col, errors="coerce")
            micros = stamps.astype("datetime64[us]").astype("int64").astype("float64")
            learn[name] = micros.where(stamps.notna())
            observed[name] = np.unique(learn[name].dropna().to_numpy())
        elif kind == "boolean":
            learn[name] = col.map(lambda v: None if v is None or v is pd.NA or
                                  (isinstance(v, float) and math.isnan(v)) else str(bool(v)))
        elif kind == "text" and _categorical(present.nunique(), len(present)):
            learn[name] = col.astype("object").where(col.notna(), None)
        else:  # free text, identifiers, nested values: not learned
            replaced.append(name)
    order = [name for name, _ in columns if name not in replaced]
    result = pd.DataFrame(index=range(n))
    if order:
        model = Synthesiser(random_seed=seed).fit(learn[order].reset_index(drop=True))
        generated = model.generate(n=n).reset_index(drop=True)
    for name, duck_type in columns:
        kind = kind_of(duck_type)
        if name in replaced:
            result[name] = [f"{name}-{i:06d}" for i in range(1, n + 1)]
            continue
        values = generated[name]
        if kind in {"integer", "number", "date", "timestamp"}:
            numbers = _snap(pd.to_numeric(values, errors="coerce").to_numpy("float64"),
                            observed[name])
            if kind in {"date", "timestamp"}:
                result[name] = pd.to_datetime(pd.array(numbers).round().astype("Int64"),
                                              unit="us", errors="coerce")
            else:
                result[name] = numbers
        elif kind == "boolean":
            result[name] = values.map(lambda v: None if not isinstance(v, str) else v == "True")
        else:
            result[name] = values.map(lambda v: v if isinstance(v, str) else None)
    return result, replaced


def _snap(values: Any, observed: Any) -> Any:
    """Each generated number moved to the nearest value seen in the sample. CART draws
    observed donors, but synthpop-py hands them back through float32, which blurs large numbers
    (timestamps in microseconds by minutes); snapping restores the exact values, and with them
    the guarantee that every value lies within the observed range. Missing stays missing."""
    import numpy as np

    if len(observed) == 0:
        return np.full(len(values), np.nan)
    present = ~np.isnan(values)
    idx = np.clip(np.searchsorted(observed, values[present]), 1, max(len(observed) - 1, 1))
    below = observed[idx - 1]
    above = observed[np.minimum(idx, len(observed) - 1)]
    out = values.copy()
    out[present] = np.where(np.abs(values[present] - below) <= np.abs(above - values[present]),
                            below, above)
    return out


def _write(con: duckdb.DuckDBPyConnection, frame: Any, columns: list[tuple[str, str]],
           target: Path, out_format: TabularFormat) -> None:
    con.register("synthetic_rows", frame)
    casts = ", ".join(
        f"CAST({quote_ident(n)} AS {t if kind_of(t) != 'other' else 'VARCHAR'}) "
        f"AS {quote_ident(n)}" for n, t in columns)
    options = "FORMAT parquet, COMPRESSION zstd" if out_format is TabularFormat.parquet \
        else "FORMAT csv, HEADER true"
    out = "'" + str(target).replace("'", "''") + "'"
    run_query(con, f"COPY (SELECT {casts} FROM synthetic_rows) TO {out} ({options})")
    con.unregister("synthetic_rows")
