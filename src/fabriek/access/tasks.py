"""Background work of the access capability, run by the worker loop (safe to repeat)."""

from __future__ import annotations

from datetime import datetime

from fabriek.access.service import AccessConfig, release_cutoff
from fabriek.db.session import Database
from fabriek.identity.principal import SYSTEM


def release_due_cutoffs(db: Database, config: AccessConfig, now: datetime | None = None
                        ) -> list[int]:
    """Open review for every proposal whose mode's cut-off has passed; returns their ids."""
    released: list[int] = []
    for mode in config.policy.modes.modes:
        if mode.cutoffs is None:
            continue
        with db.unit_of_work() as session:
            released += [p.id for p in release_cutoff(session, SYSTEM, mode.id, config=config,
                                                      now=now)]
    return released
