"""Turning command-line input into API request bodies: --file plus options, --score pairs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from fabriek.cli.errors import InputProblem, UsageProblem

# What a new proposal must state; the server checks the rest (ranges, the ethics pair, ...).
REQUIRED_PROPOSAL_FIELDS = {
    "title": "--title", "abstract": "--abstract", "sector": "--sector",
    "gpu_hours": "--gpu-hours", "duration_months": "--duration-months",
    "start_on": "--start-on", "intended_system": "--intended-system",
    "civilian_use": "--civilian/--not-civilian",
}


def load_file(path: Path) -> dict[str, Any]:
    """Read a YAML or JSON mapping; keys may be written `gpu-hours` or `gpu_hours`."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split())
        raise InputProblem(f"cannot read {path}: {reason}",
                           "give a YAML or JSON file with one mapping of fields") from exc
    if not isinstance(data, Mapping):
        raise InputProblem(f"{path} must hold a mapping of fields, not {type(data).__name__}",
                           "see `fabriek proposal create --help` for the field names")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def merge(file: Path | None, options: Mapping[str, Any]) -> dict[str, Any]:
    """The file's fields, overridden by every option that was given on the command line."""
    data = load_file(file) if file else {}
    for key, value in options.items():
        if value is None or (isinstance(value, list | tuple) and not value):
            continue
        data[key] = value.date() if isinstance(value, datetime) else value
    return data


def require(data: Mapping[str, Any], required: Mapping[str, str], command: str) -> None:
    missing = [flag for key, flag in required.items() if data.get(key) is None]
    if missing:
        raise UsageProblem(f"missing {', '.join(missing)}",
                           f"give them as options or in --file; `{command} --help`")


def scores(pairs: Iterable[str]) -> dict[str, int]:
    """`criterion=4` pairs → {"criterion": 4}."""
    result: dict[str, int] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip().lstrip("-").isdigit():
            raise UsageProblem(f"--score {pair!r} is not CRITERION=NUMBER",
                               "e.g. --score excellence=4 --score impact=3")
        result[name.strip()] = int(value)
    return result


PROPOSAL_FIELDS = ("title", "abstract", "sector", "gpu_hours", "duration_months", "start_on",
                   "intended_system", "gpu_model", "gpu_memory_gb", "storage_tb", "datasets",
                   "languages", "inference_share", "civilian_use", "confidential",
                   "ethics_commitment", "ethics_signed_by")


def proposal_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The proposal fields among a command's parameters (named as in ProposalFields), so the
    three commands that take them do not each spell out the same sixteen assignments."""
    return {k: (v.value if hasattr(v, "value") else v) for k, v in values.items()
            if k in PROPOSAL_FIELDS}
