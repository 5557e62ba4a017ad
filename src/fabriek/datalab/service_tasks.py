"""What each dataset service does with a file: the engines behind one signature.

`perform` takes a local file, its format and the run's settings, and returns the result to
store on the run and, for convert and synthesize, a new file (left in `work_dir`) with the
name it should have in the dataset. No database here: the runner does the bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from fabriek.datalab import convert, personal_data, profiling, synthetic
from fabriek.datalab.duck import EngineLimits, Progress, TabularFormat
from fabriek.datalab.run_models import ServiceName


@dataclass(frozen=True)
class Outcome:
    result: dict[str, Any]
    output: Path | None = None
    output_name: str | None = None
    output_title: str = ""


def stem(file_name: str) -> str:
    """The name without its data extensions: 'trips.csv.gz' → 'trips'."""
    name = PurePath(file_name).name
    for ext in (".csv.gz", ".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet"):
        if name.lower().endswith(ext):
            return name[: -len(ext)] or "data"
    return name


def perform(service: ServiceName, path: Path, fmt: TabularFormat, file_name: str,
            params: dict[str, Any], work_dir: Path, *, limits: EngineLimits,
            progress: Progress) -> Outcome:
    if service is ServiceName.profile:
        report = profiling.profile(path, fmt, limits=limits, progress=progress)
        return Outcome(result=report.model_dump(mode="json"))
    if service is ServiceName.validate:
        schema = profiling.ExpectedSchema.model_validate(params["expected_schema"])
        checked = profiling.validate(path, fmt, schema, limits=limits, progress=progress)
        return Outcome(result=checked.model_dump(mode="json"))
    if service is ServiceName.detect_personal_data:
        found = personal_data.detect(path, fmt, limits=limits, progress=progress,
                                     max_rows=params.get("max_rows"))
        return Outcome(result={**found.model_dump(mode="json"),
                               "contains_personal_data": found.contains_personal_data})
    if service is ServiceName.convert:
        done = convert.to_parquet(path, fmt, work_dir, limits=limits, progress=progress)
        return Outcome(
            result={"rows": done.rows, "sha256": done.sha256, "byte_size": done.size,
                    "columns": [{"name": n, "type": t} for n, t in done.columns],
                    "compression": "zstd"},
            output=done.path, output_name=f"{stem(file_name)}.parquet",
            output_title=f"{file_name} as Parquet")
    out_format = TabularFormat(params.get("output_format") or "parquet")
    made = synthetic.synthesise(
        path, fmt, work_dir, rows=params.get("rows"),
        fit_rows=params.get("fit_rows") or synthetic.FIT_ROWS, seed=params.get("seed") or 1,
        out_format=out_format, limits=limits, progress=progress)
    return Outcome(
        result={"rows": made.rows, "fit_rows": made.fit_rows, "method": made.method,
                "replaced_columns": made.replaced, "sha256": made.sha256,
                "byte_size": made.size,
                "columns": [{"name": n, "type": t} for n, t in made.columns]},
        output=made.path, output_name=f"{stem(file_name)}.synthetic.{out_format.value}",
        output_title=f"Synthetic data from {file_name} ({made.method})")
