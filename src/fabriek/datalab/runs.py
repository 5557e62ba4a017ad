"""Use cases of the dataset services: ask for a run, see it, list a dataset's runs.

Who may run what:
- profile, validate, detect-personal-data read the data and write nothing into the catalogue,
  so they are a read like a download: anyone who may read the dataset's files now (a steward;
  any signed-in person for registered data; a valid grant for approval and permit data);
- convert and synthesize add a file to the dataset, which publishes it to everyone who may
  see the dataset: a steward's act, so stewards only.

Asking for a run is the read: the decision's rule and grant are stored on the run, and the read
log gets one `service` entry with the service as its purpose, in the same transaction. The
worker decides again when it starts the run, so a grant revoked or expired in between stops it.
The requester and the dataset's stewards see a run (and its result); nobody else learns that
it exists.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fabriek.audit.service import record
from fabriek.datalab import access as rules
from fabriek.datalab import service as catalogue
from fabriek.datalab.duck import TabularFormat, tabular_format
from fabriek.datalab.enums import ReadAction
from fabriek.datalab.models import Dataset, Distribution
from fabriek.datalab.run_models import RunState, ServiceName, ServiceRun
from fabriek.datalab.run_schemas import RunRead, RunRequest
from fabriek.errors import BadRequest, Conflict, FabriekError, Forbidden, NotFound
from fabriek.identity.enums import Role
from fabriek.identity.models import User
from fabriek.identity.principal import Principal
from fabriek.kit.clock import utcnow

MAX_ACTIVE_PER_PERSON = 5  # queued or running; one person cannot fill the queue
SUBJECT = "datalab-service-run"


def format_of(dist: Distribution) -> TabularFormat:
    """How the services read a distribution (BadRequest when they cannot)."""
    return tabular_format(dist.media_type, Path(dist.file_name))


def _is_tabular(dist: Distribution) -> bool:
    try:
        format_of(dist)
    except FabriekError:
        return False
    return True


def _pick_distribution(session: Session, dataset: Dataset, distribution_id: int | None
                       ) -> Distribution:
    if distribution_id is not None:
        return catalogue.get_distribution(session, dataset, distribution_id)
    dists = session.execute(select(Distribution).where(Distribution.dataset_id == dataset.id)
                            .order_by(Distribution.id.desc())).scalars().all()
    for dist in dists:
        if _is_tabular(dist):
            return dist
    raise BadRequest(f"dataset {dataset.slug} has no CSV, JSON or Parquet file to run on")


def decide(session: Session, principal: Principal, dataset: Dataset, service: ServiceName,
           now: datetime | None = None) -> rules.ReadDecision:
    """Whether `principal` may run `service` on the dataset now (the decision, not raised)."""
    if service.writes_distribution:
        if catalogue.is_steward(session, principal, dataset.id):
            return rules.ReadDecision(True, "datalab.steward", "a steward of the dataset")
        return rules.ReadDecision(False, "datalab.steward-only",
                                  f"only a data steward of dataset {dataset.slug} may run "
                                  f"{service.value}: it adds a file to the dataset")
    return catalogue.decide_read(session, principal, dataset, now=now)


def request_run(session: Session, principal: Principal, slug: str, service: ServiceName,
                body: RunRequest, *, now: datetime | None = None) -> ServiceRun:
    """Queue a run. Raises NotFound, Forbidden, Unauthenticated, PolicyRefusal (no valid
    grant), BadRequest (settings, or a file the services cannot read), Conflict."""
    now = now or utcnow()
    dataset = catalogue.get_dataset(session, principal, slug)
    if dataset.withdrawn_at is not None:
        raise Conflict(f"dataset {slug} is withdrawn")
    try:
        params = body.settings_for(service)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    decision = decide(session, principal, dataset, service, now)
    if not decision.allowed:
        if decision.rule == "datalab.steward-only":
            raise Forbidden(decision.reason)
        catalogue.require_read(session, principal, dataset, now=now)  # raises the refusal
    dist = _pick_distribution(session, dataset, body.distribution_id)
    fmt = format_of(dist)
    if service is ServiceName.convert and fmt is TabularFormat.parquet:
        raise BadRequest(f"{dist.file_name} is Parquet already")
    active = session.execute(select(func.count()).select_from(ServiceRun).where(
        ServiceRun.requested_by_id == principal.user_id,
        ServiceRun.state.in_([RunState.queued, RunState.running]))).scalar_one()
    if active >= MAX_ACTIVE_PER_PERSON:
        raise Conflict(f"you have {active} service runs queued or running; wait for one to "
                       "end", limit=MAX_ACTIVE_PER_PERSON)
    grant = decision.grant
    run = ServiceRun(
        dataset_id=dataset.id, distribution_id=dist.id, service=service, params=params,
        state=RunState.queued, progress=0.0, message="queued", error="",
        requested_by_id=principal.user_id, read_rule=decision.rule,
        grant_id=grant.id if grant else None,
        organisation_id=grant.organisation_id if grant else None, attempts=0, created_at=now)
    session.add(run)
    session.flush()
    purpose = f"data-lab service: {service.value}" + (f" — {body.purpose}" if body.purpose
                                                      else "")
    catalogue.record_read(session, dataset=dataset, principal=principal,
                          action=ReadAction.service, decision=decision, distribution=dist,
                          purpose=purpose, detail={"run_id": run.id, "service": service.value},
                          now=now)
    record(session, principal, "datalab.service-run-queued", subject_type=SUBJECT,
           subject_id=run.id, to_state=RunState.queued.value,
           data={"dataset": dataset.slug, "distribution_id": dist.id,
                 "service": service.value, "rule": decision.rule})
    return run


def _may_see(session: Session, principal: Principal, run: ServiceRun) -> bool:
    return (run.requested_by_id == principal.user_id
            or principal.has(Role.access_officer)
            or catalogue.is_steward(session, principal, run.dataset_id))


def get_run(session: Session, principal: Principal, run_id: int) -> ServiceRun:
    """A run its requester, the dataset's stewards or an access officer may see; NotFound
    for everyone else (its existence says who works on which dataset)."""
    run = session.get(ServiceRun, run_id)
    if run is None or not _may_see(session, principal, run):
        raise NotFound(f"service run {run_id} not found")
    return run


def list_runs(session: Session, principal: Principal, slug: str, *, after: int = 0,
              limit: int = 50) -> list[ServiceRun]:
    """A dataset's runs: all of them for its stewards, one's own for everyone else."""
    dataset = catalogue.get_dataset(session, principal, slug)
    stmt = select(ServiceRun).where(ServiceRun.dataset_id == dataset.id, ServiceRun.id > after)
    if not (principal.has(Role.access_officer)
            or catalogue.is_steward(session, principal, dataset.id)):
        stmt = stmt.where(ServiceRun.requested_by_id == principal.user_id)
    return list(session.execute(stmt.order_by(ServiceRun.id).limit(limit)).scalars())


def run_view(session: Session, run: ServiceRun) -> RunRead:
    slug = session.execute(select(Dataset.slug).where(Dataset.id == run.dataset_id)
                           ).scalar_one()
    email = session.execute(select(User.email).where(User.id == run.requested_by_id)
                            ).scalar_one()
    return RunRead(
        id=run.id, dataset=slug, distribution_id=run.distribution_id, service=run.service,
        state=run.state, progress=run.progress, message=run.message, params=run.params,
        result=run.result, error=run.error, output_distribution_id=run.output_distribution_id,
        requested_by=email, created_at=run.created_at, started_at=run.started_at,
        finished_at=run.finished_at)
