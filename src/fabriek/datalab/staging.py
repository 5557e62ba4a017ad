"""Staging a job's datasets: whether the job's project may read them now, what to place, and
the read log.

The broker calls `clear` when a job is submitted (refused: nothing is written) and the
reconciler again when it hands the job to its executor, since a grant may expire or be
revoked in between; then `plan` tells the executor which files to place (compute.executors.
staging places and verifies them), and `record_staged` writes one read per dataset, in the
transaction that records the hand-over, with the job's owner as reader and the grant's
purpose.

The decision is the data lab's own (`service.decide_read` with the job's allocation as the
project), so staging, downloads and services follow one rule per access level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fabriek.compute.executors.staging import StageDataset, StageFile
from fabriek.datalab import access as rules
from fabriek.datalab import service
from fabriek.datalab.enums import ReadAction
from fabriek.datalab.models import Dataset, Distribution
from fabriek.errors import PolicyRefusal
from fabriek.identity.principal import Principal


@dataclass(frozen=True)
class Cleared:
    """One dataset a job may have next to it, and the decision that allowed it."""

    dataset_id: int
    slug: str
    decision: rules.ReadDecision


def _by_slug(session: Session, slugs: Sequence[str]) -> dict[str, Dataset]:
    if not slugs:
        return {}
    rows = session.execute(select(Dataset).where(Dataset.slug.in_(list(slugs)))).scalars()
    return {d.slug: d for d in rows if d.withdrawn_at is None}


def clear(session: Session, principal: Principal, *, allocation_id: int,
          slugs: Sequence[str], now: datetime) -> list[Cleared]:
    """Every named dataset exists, is not withdrawn, and the job's project (its organisation,
    proposal and allocation) may read it now. `principal` is the job's owner.

    Raises PolicyRefusal naming the first dataset that fails and why (rule: the data lab's
    rule, e.g. datalab.no-grant, datalab.grant-expired, datalab.grant-revoked).
    """
    if len(set(slugs)) != len(slugs):
        twice = sorted({s for s in slugs if list(slugs).count(s) > 1})
        raise PolicyRefusal(f"dataset {twice[0]} is named twice", rule="datalab.staging",
                            dataset=twice[0])
    found = _by_slug(session, slugs)
    project = service.project_of_allocation(session, allocation_id)
    cleared = []
    for slug in slugs:
        dataset = found.get(slug)
        if dataset is None:
            raise PolicyRefusal(f"dataset {slug} is not in the data labs' catalogue (or was "
                                "withdrawn); the job cannot have it staged",
                                rule="datalab.unknown-dataset", dataset=slug)
        decision = service.decide_read(session, principal, dataset, now=now, project=project)
        if not decision.allowed:
            raise PolicyRefusal(f"dataset {slug}: {decision.reason}", rule=decision.rule,
                                dataset=slug)
        cleared.append(Cleared(dataset.id, slug, decision))
    return cleared


def _stage_file(cfg: service.DatalabConfig, dist: Distribution) -> StageFile:
    return StageFile(name=dist.file_name, source=str(service.blob_path(cfg, dist)),
                     sha256=dist.sha256, size=dist.byte_size)


def plan(session: Session, cfg: service.DatalabConfig, cleared: Sequence[Cleared]
         ) -> tuple[StageDataset, ...]:
    """What the executor places: each dataset's files (as they are now) under
    datasets/<slug>/, each with the blob's path, size and SHA-256 to verify against."""
    files = service.distributions_of(session, [c.dataset_id for c in cleared])
    return tuple(StageDataset(c.slug, tuple(_stage_file(cfg, d) for d in files[c.dataset_id]))
                 for c in cleared)


def record_staged(session: Session, principal: Principal, cleared: Sequence[Cleared],
                  staged: Sequence[StageDataset], *, job_id: int, organisation_id: int,
                  now: datetime, detail: dict[str, object] | None = None) -> None:
    """One read per staged dataset: who (the job's owner), for which organisation and job,
    what (the files and their checksums), why (the grant's purpose; none for open and
    registered data)."""
    files = {d.slug: d.files for d in staged}
    for c in cleared:
        dataset = session.get(Dataset, c.dataset_id)
        assert dataset is not None
        what = {f.name: f.sha256 for f in files.get(c.slug, ())}
        service.record_read(session, dataset=dataset, principal=principal,
                            action=ReadAction.stage, decision=c.decision, job_id=job_id,
                            organisation_id=organisation_id,
                            detail={"files": what, **(detail or {})}, now=now)
