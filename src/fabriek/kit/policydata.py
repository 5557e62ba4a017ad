"""Versioned policy files: YAML in the package, optionally overridden from a directory.

Policy (eligible countries, access modes, ...) is data, validated at load so a bad edit fails
at start-up with the file and field named, never at the first request that touches it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class PolicyFileError(Exception):
    """A policy file is missing, not YAML, or does not match its schema."""


def read_policy(name: str, model: type[M], override_dir: Path | None = None) -> M:
    """Load `<name>.yaml` from override_dir if present there, else from the packaged defaults."""
    path: Path | None = None
    if override_dir is not None and (override_dir / f"{name}.yaml").is_file():
        path = override_dir / f"{name}.yaml"
        text = path.read_text(encoding="utf-8")
        origin = str(path)
    else:
        packaged = resources.files("fabriek.policy").joinpath(f"{name}.yaml")
        try:
            text = packaged.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise PolicyFileError(f"policy file {name}.yaml not found") from exc
        origin = f"fabriek/policy/{name}.yaml"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyFileError(f"{origin}: not valid YAML: {exc}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise PolicyFileError(f"{origin}: {exc}") from exc
