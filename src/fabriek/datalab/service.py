"""Use cases of the data-lab catalogue: datasets, stewards, distributions, reads.

Every function: load → authorise (404 before 403) → check against policy → change → audit.
None commits. Access requests and grants are in `datalab.grants`.

Functions other capabilities use (staging next to jobs, dataset services):
`get_dataset`, `list_datasets`, `valid_grant_for`, `decide_read`, `record_read`, and
`datalab.storage.store_for(settings)` for the files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import String, cast, delete, exists, func, select
from sqlalchemy.orm import Session

from fabriek.access.models import Allocation
from fabriek.audit.service import record
from fabriek.datalab import access as rules
from fabriek.datalab import dcat
from fabriek.datalab.enums import AccessLevel, ReadAction
from fabriek.datalab.filenames import check_file_name
from fabriek.datalab.models import Dataset, DatasetSteward, Distribution, Grant, ReadEvent
from fabriek.datalab.policy_files import DatalabPolicy, UploadFormat
from fabriek.datalab.schemas import (
    AccessConditions,
    DatasetCreate,
    DatasetRead,
    DatasetSummary,
    DatasetUpdate,
    DistributionRead,
)
from fabriek.datalab.storage import BlobStore, StoredBlob, store_for
from fabriek.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PolicyRefusal,
    TooLarge,
    Unauthenticated,
)
from fabriek.federation.models import Factory
from fabriek.identity.enums import Role
from fabriek.identity.models import User, UserRole
from fabriek.identity.principal import Principal
from fabriek.kit.clock import utcnow
from fabriek.settings import Settings

API_PREFIX = "/api/v1/datalab"


@dataclass(frozen=True)
class DatalabConfig:
    """What the data-lab use cases run under: the policy file, the blob store, the limits."""

    policy: DatalabPolicy
    store: BlobStore
    max_upload_bytes: int = 2048 * 1024 * 1024
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> DatalabConfig:
        return cls(policy=DatalabPolicy.load(settings.policy_dir), store=store_for(settings),
                   max_upload_bytes=settings.datalab_max_upload_bytes)


# --- who --------------------------------------------------------------------------------------


def steward_ids(session: Session, dataset_id: int) -> list[int]:
    return list(session.execute(
        select(DatasetSteward.user_id).where(DatasetSteward.dataset_id == dataset_id)
        .order_by(DatasetSteward.user_id)).scalars())


def is_steward(session: Session, principal: Principal | None, dataset_id: int) -> bool:
    """A steward of this dataset who still holds the data-steward role."""
    if principal is None or principal.user_id is None or not principal.has(Role.data_steward):
        return False
    return session.execute(select(DatasetSteward.user_id).where(
        DatasetSteward.dataset_id == dataset_id,
        DatasetSteward.user_id == principal.user_id)).first() is not None


def _require_steward(session: Session, principal: Principal, dataset: Dataset,
                     what: str) -> None:
    if not is_steward(session, principal, dataset.id):
        raise Forbidden(f"only a data steward of dataset {dataset.slug} may {what}")


# --- reading the catalogue --------------------------------------------------------------------


def get_dataset(session: Session, principal: Principal | None, slug: str, *,
                for_update: bool = False) -> Dataset:
    """The dataset named `slug` as `principal` (None: anonymous) may see it.

    The catalogue is public; a withdrawn dataset is visible only to its stewards and access
    officers. Raises: NotFound.
    """
    stmt = select(Dataset).where(Dataset.slug == slug)
    if for_update:
        stmt = stmt.with_for_update()
    dataset = session.execute(stmt).scalar()
    if dataset is None:
        raise NotFound(f"dataset {slug} not found")
    if dataset.withdrawn_at is not None and not (
            (principal is not None and principal.has(Role.access_officer))
            or is_steward(session, principal, dataset.id)):
        raise NotFound(f"dataset {slug} not found")
    return dataset


def list_datasets(session: Session, principal: Principal | None = None, *,
                  q: str | None = None, data_space: str | None = None,
                  theme: str | None = None, access_level: AccessLevel | None = None,
                  licence: str | None = None, factory_id: str | None = None,
                  include_withdrawn: bool = False, after: int = 0,
                  limit: int = 100) -> list[Dataset]:
    """Datasets in id order, filtered; `q` matches every word in slug, titles, descriptions
    and keywords (any language, case-insensitive). Withdrawn ones only for their stewards and
    access officers when `include_withdrawn`."""
    stmt = select(Dataset).where(Dataset.id > after).order_by(Dataset.id).limit(limit)
    if q:
        for word in q.lower().split()[:10]:
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(Dataset.search_text.like(f"%{escaped}%", escape="\\"))
    if data_space:
        stmt = stmt.where(Dataset.data_space == data_space)
    if theme:
        # Theme codes are ASCII capitals (checked at write), stored as a JSON list.
        stmt = stmt.where(cast(Dataset.themes, String).like(f'%"{theme.upper()}"%'))
    if access_level:
        stmt = stmt.where(Dataset.access_level == access_level)
    if licence:
        stmt = stmt.where(Dataset.licence == licence)
    if factory_id:
        stmt = stmt.where(Dataset.factory_id == factory_id)
    if not include_withdrawn or principal is None:
        stmt = stmt.where(Dataset.withdrawn_at.is_(None))
    elif not principal.has(Role.access_officer):
        stewarded = select(DatasetSteward.dataset_id).where(
            DatasetSteward.user_id == principal.user_id)
        stmt = stmt.where(Dataset.withdrawn_at.is_(None) | Dataset.id.in_(stewarded))
    return list(session.execute(stmt).scalars())


def distributions_of(session: Session, dataset_ids: Sequence[int]
                     ) -> dict[int, list[Distribution]]:
    out: dict[int, list[Distribution]] = {i: [] for i in dataset_ids}
    if not dataset_ids:
        return out
    for d in session.execute(select(Distribution).where(
            Distribution.dataset_id.in_(list(dataset_ids))).order_by(Distribution.id)).scalars():
        out[d.dataset_id].append(d)
    return out


def get_distribution(session: Session, dataset: Dataset, distribution_id: int) -> Distribution:
    dist = session.get(Distribution, distribution_id)
    if dist is None or dist.dataset_id != dataset.id:
        raise NotFound(f"distribution {distribution_id} of dataset {dataset.slug} not found")
    return dist


def download_path(dataset: Dataset, dist: Distribution) -> str:
    return f"{API_PREFIX}/datasets/{dataset.slug}/distributions/{dist.id}/content"


def distribution_view(dataset: Dataset, d: Distribution) -> DistributionRead:
    return DistributionRead(id=d.id, file_name=d.file_name, title=d.title,
                            media_type=d.media_type, file_type=d.file_type,
                            byte_size=d.byte_size, sha256=d.sha256,
                            derived_from_id=d.derived_from_id, created_at=d.created_at,
                            download_url=download_path(dataset, d))


def access_conditions(policy: DatalabPolicy, level: AccessLevel, lang: str = "en"
                      ) -> AccessConditions:
    entry = policy.access_level(level)
    return AccessConditions(level=level, description=getattr(entry.description, lang,
                                                             entry.description.en),
                            access_right=str(entry.access_right),
                            needs_grant=level.needs_grant,
                            needs_permit=level is AccessLevel.permit)


def dataset_view(session: Session, cfg: DatalabConfig, dataset: Dataset,
                 dists: list[Distribution] | None = None) -> DatasetRead:
    if dists is None:
        dists = distributions_of(session, [dataset.id])[dataset.id]
    lic = cfg.policy.licence(dataset.licence)
    return DatasetRead(
        id=dataset.id, slug=dataset.slug, title=dataset.title, description=dataset.description,
        publisher_name=dataset.publisher_name, publisher_uri=dataset.publisher_uri,
        themes=dataset.themes, data_space=dataset.data_space, licence=dataset.licence,
        licence_uri=str(lic.uri) if lic else None, spatial=dataset.spatial,
        temporal_start=dataset.temporal_start, temporal_end=dataset.temporal_end,
        keywords=dataset.keywords, access_level=dataset.access_level,
        access=access_conditions(cfg.policy, dataset.access_level),
        factory_id=dataset.factory_id, landing_page=dataset.landing_page,
        contact_email=dataset.contact_email, issued=dataset.issued,
        created_at=dataset.created_at, modified_at=dataset.modified_at,
        withdrawn_at=dataset.withdrawn_at, steward_ids=steward_ids(session, dataset.id),
        distributions=[distribution_view(dataset, d) for d in dists],
        byte_size=sum(d.byte_size for d in dists))


def dataset_summaries(session: Session, datasets: list[Dataset]) -> list[DatasetSummary]:
    dists = distributions_of(session, [d.id for d in datasets])
    return [DatasetSummary(id=d.id, slug=d.slug, title=d.title, data_space=d.data_space,
                           themes=d.themes, licence=d.licence, access_level=d.access_level,
                           factory_id=d.factory_id, keywords=d.keywords,
                           distributions=len(dists[d.id]),
                           byte_size=sum(x.byte_size for x in dists[d.id]),
                           modified_at=d.modified_at, withdrawn_at=d.withdrawn_at)
            for d in datasets]


# --- writing the catalogue --------------------------------------------------------------------


def _search_text(dataset: Dataset) -> str:
    parts = [dataset.slug, *dataset.title.values(), *dataset.description.values(),
             *dataset.keywords, dataset.publisher_name]
    return " ".join(parts).lower()


def _check_against_policy(session: Session, policy: DatalabPolicy, values: dict[str, Any]
                          ) -> None:
    """The vocabulary fields name things the policy (or the federation) knows."""
    if "data_space" in values and policy.data_space(values["data_space"]) is None:
        known = ", ".join(d.id for d in policy.data_spaces)
        raise BadRequest(f"unknown data space {values['data_space']!r}; one of: {known}")
    if "licence" in values and policy.licence(values["licence"]) is None:
        known = ", ".join(lic.id for lic in policy.licences)
        raise BadRequest(f"unknown licence {values['licence']!r}; one of: {known}")
    themes = {t.id for t in policy.themes}
    unknown = [t for t in values.get("themes") or [] if t not in themes]
    if unknown:
        raise BadRequest(f"unknown themes {unknown}; the EU data-theme codes are: "
                         f"{', '.join(sorted(themes))}")
    factory_id = values.get("factory_id")
    if factory_id is not None and session.get(Factory, factory_id) is None:
        raise BadRequest(f"unknown factory {factory_id!r}")


def _column_values(data: DatasetCreate | DatasetUpdate, *, partial: bool) -> dict[str, Any]:
    values = data.model_dump(exclude_unset=partial)
    for key in ("publisher_uri", "landing_page", "contact_email"):
        if values.get(key) is not None:
            values[key] = str(values[key])
    return values


def create_dataset(session: Session, principal: Principal, data: DatasetCreate, *,
                   cfg: DatalabConfig, now: datetime | None = None,
                   seed: str | None = None) -> Dataset:
    """A new dataset; its creator becomes its steward.

    Raises: Forbidden (not a data steward), BadRequest (unknown vocabulary), Conflict (slug
    taken) before anything is written.
    """
    if principal.user_id is not None and not principal.has(Role.data_steward):
        raise Forbidden("only a data steward may publish datasets")
    values = _column_values(data, partial=False)
    _check_against_policy(session, cfg.policy, values)
    if session.execute(select(Dataset.id).where(Dataset.slug == data.slug)).first():
        raise Conflict(f"a dataset named {data.slug} exists already")
    now = now or utcnow()
    dataset = Dataset(**values, created_by_id=principal.user_id, created_at=now,
                      modified_at=now, seed=seed)
    dataset.search_text = _search_text(dataset)
    session.add(dataset)
    session.flush()
    if principal.user_id is not None:
        session.add(DatasetSteward(dataset_id=dataset.id, user_id=principal.user_id,
                                   created_by_id=principal.user_id, created_at=now))
    record(session, principal, "dataset.created", subject_type="dataset", subject_id=dataset.id,
           data={"slug": dataset.slug, "access_level": str(dataset.access_level),
                 "licence": dataset.licence, "data_space": dataset.data_space})
    return dataset


def update_dataset(session: Session, principal: Principal, slug: str, data: DatasetUpdate, *,
                   cfg: DatalabConfig, now: datetime | None = None) -> Dataset:
    """Change the fields sent. Raises: NotFound, Forbidden (not its steward), BadRequest."""
    dataset = get_dataset(session, principal, slug, for_update=True)
    _require_steward(session, principal, dataset, "change it")
    values = _column_values(data, partial=True)
    for key in ("title", "description", "publisher_name", "data_space", "licence",
                "access_level", "themes", "spatial", "keywords"):
        if key in values and values[key] is None:
            raise BadRequest(f"{key} cannot be cleared")
    _check_against_policy(session, cfg.policy, values)
    start = values.get("temporal_start", dataset.temporal_start)
    end = values.get("temporal_end", dataset.temporal_end)
    if start and end and end < start:
        raise BadRequest("temporal_end is before temporal_start")
    before = {k: getattr(dataset, k) for k in values}
    changed = [k for k, v in values.items() if before[k] != v]
    for key, value in values.items():
        setattr(dataset, key, value)
    dataset.search_text = _search_text(dataset)
    dataset.modified_at = now or utcnow()
    if changed:
        data_out: dict[str, Any] = {"changed": sorted(changed)}
        if "access_level" in changed:
            data_out["access_level"] = {"from": str(before["access_level"]),
                                        "to": str(values["access_level"])}
        record(session, principal, "dataset.updated", subject_type="dataset",
               subject_id=dataset.id, data=data_out)
    session.flush()
    return dataset


def withdraw_dataset(session: Session, principal: Principal, slug: str, *, reason: str,
                     now: datetime | None = None) -> Dataset:
    """Take a dataset out of the catalogue (kept for the read log and grants)."""
    dataset = get_dataset(session, principal, slug, for_update=True)
    _require_steward(session, principal, dataset, "withdraw it")
    if dataset.withdrawn_at is not None:
        raise Conflict(f"dataset {slug} is withdrawn already")
    dataset.withdrawn_at = now or utcnow()
    dataset.modified_at = dataset.withdrawn_at
    record(session, principal, "dataset.withdrawn", subject_type="dataset",
           subject_id=dataset.id, reason=reason)
    session.flush()
    return dataset


def set_stewards(session: Session, principal: Principal, slug: str, emails: list[str], *,
                 now: datetime | None = None) -> list[int]:
    """Replace a dataset's stewards: by one of its stewards or an access officer. Everyone
    named must hold the data-steward role; a steward cannot leave the dataset without one."""
    dataset = get_dataset(session, principal, slug, for_update=True)
    if not (principal.has(Role.access_officer) or is_steward(session, principal, dataset.id)):
        raise Forbidden(f"only a data steward of dataset {slug} or an access officer may "
                        "choose its stewards")
    wanted = sorted({e.strip().lower() for e in emails})
    users = {u.email: u for u in session.execute(
        select(User).where(User.email.in_(wanted))).scalars()}
    missing = [e for e in wanted if e not in users]
    if missing:
        raise BadRequest(f"no such people: {', '.join(missing)}")
    with_role = set(session.execute(select(UserRole.user_id).where(
        UserRole.user_id.in_([u.id for u in users.values()]),
        UserRole.role == Role.data_steward)).scalars())
    lacking = [e for e in wanted if users[e].id not in with_role]
    if lacking:
        raise BadRequest(f"not data stewards: {', '.join(lacking)}")
    before = steward_ids(session, dataset.id)
    after = sorted(u.id for u in users.values())
    session.execute(delete(DatasetSteward).where(DatasetSteward.dataset_id == dataset.id))
    now = now or utcnow()
    for uid in after:
        session.add(DatasetSteward(dataset_id=dataset.id, user_id=uid,
                                   created_by_id=principal.user_id, created_at=now))
    record(session, principal, "dataset.stewards-set", subject_type="dataset",
           subject_id=dataset.id, data={"before": before, "after": after})
    session.flush()
    return after


# --- distributions ----------------------------------------------------------------------------


def prepare_upload(session: Session, principal: Principal, slug: str, file_name: str, *,
                   cfg: DatalabConfig, declared_size: int | None = None
                   ) -> tuple[Dataset, str, UploadFormat]:
    """Everything that can refuse an upload before a byte of it is read: the dataset, the
    steward, the file name, its format, the declared size, a name already taken.

    Returns (dataset, the checked file name, its format).
    """
    dataset = get_dataset(session, principal, slug)
    _require_steward(session, principal, dataset, "upload files")
    if dataset.withdrawn_at is not None:
        raise Conflict(f"dataset {slug} is withdrawn")
    name = check_file_name(file_name)
    fmt = cfg.policy.format_for(name)
    if fmt is None:
        allowed = ", ".join("." + f.extension for f in cfg.policy.upload_formats)
        raise BadRequest(f"files of this type are not accepted; allowed: {allowed}")
    if declared_size is not None and declared_size > cfg.max_upload_bytes:
        raise TooLarge(f"the file ({declared_size} bytes) is larger than the limit of "
                       f"{cfg.max_upload_bytes} bytes; nothing was stored",
                       limit_bytes=cfg.max_upload_bytes)
    if session.execute(select(Distribution.id).where(
            Distribution.dataset_id == dataset.id, Distribution.file_name == name)).first():
        raise Conflict(f"dataset {slug} already has a file named {name}; delete it first")
    return dataset, name, fmt


def add_distribution(session: Session, principal: Principal, dataset: Dataset, file_name: str,
                     fmt: UploadFormat, blob: StoredBlob, *, title: str = "",
                     derived_from_id: int | None = None,
                     now: datetime | None = None) -> Distribution:
    """Record a stored blob as a distribution of the dataset (after `prepare_upload`)."""
    now = now or utcnow()
    dist = Distribution(dataset_id=dataset.id, file_name=file_name, title=title,
                        media_type=fmt.media_type, file_type=fmt.file_type,
                        byte_size=blob.size, sha256=blob.sha256, blob_key=blob.key,
                        derived_from_id=derived_from_id, created_by_id=principal.user_id,
                        created_at=now)
    session.add(dist)
    dataset.modified_at = now
    session.flush()
    record(session, principal, "dataset.distribution-added", subject_type="dataset",
           subject_id=dataset.id, data={"distribution_id": dist.id, "file_name": file_name,
                                        "sha256": blob.sha256, "byte_size": blob.size})
    return dist


def blob_in_use(session: Session, key: str) -> bool:
    return session.execute(select(exists().where(Distribution.blob_key == key))).scalar() \
        is True


def delete_distribution(session: Session, principal: Principal, slug: str,
                        distribution_id: int, *, now: datetime | None = None) -> str | None:
    """Remove a file never read (a read file stays, for the read log). Returns the blob key
    to delete from the store after commit if no other distribution uses it, else None."""
    dataset = get_dataset(session, principal, slug)
    _require_steward(session, principal, dataset, "delete files")
    dist = get_distribution(session, dataset, distribution_id)
    if session.execute(select(ReadEvent.id).where(
            ReadEvent.distribution_id == dist.id).limit(1)).first():
        raise Conflict("this file has been read; it stays (the read log refers to it) — "
                       "withdraw the dataset instead")
    if session.execute(select(Distribution.id).where(
            Distribution.derived_from_id == dist.id).limit(1)).first():
        raise Conflict("other files were made from this one; delete them first")
    key = dist.blob_key
    session.delete(dist)
    dataset.modified_at = now or utcnow()
    record(session, principal, "dataset.distribution-deleted", subject_type="dataset",
           subject_id=dataset.id, data={"distribution_id": distribution_id,
                                        "file_name": dist.file_name, "sha256": dist.sha256})
    session.flush()
    return None if blob_in_use(session, key) else key


# --- reading data: who may, and the log -------------------------------------------------------


def grant_facts(g: Grant) -> rules.GrantFacts:
    return rules.GrantFacts(id=g.id, organisation_id=g.organisation_id,
                            proposal_id=g.proposal_id, allocation_id=g.allocation_id,
                            expires_at=g.expires_at, revoked_at=g.revoked_at,
                            permit_reference=g.permit_reference, purpose=g.purpose)


def grants_of(session: Session, dataset_id: int, organisation_ids: Sequence[int]
              ) -> list[Grant]:
    if not organisation_ids:
        return []
    return list(session.execute(select(Grant).where(
        Grant.dataset_id == dataset_id,
        Grant.organisation_id.in_(list(organisation_ids)))).scalars())


def project_of_allocation(session: Session, allocation_id: int) -> rules.Project:
    allocation = session.get(Allocation, allocation_id)
    if allocation is None:
        raise NotFound(f"allocation {allocation_id} not found")
    return rules.Project(organisation_id=allocation.organisation_id,
                         proposal_id=allocation.proposal_id, allocation_id=allocation.id)


def valid_grant_for(session: Session, dataset: Dataset, organisation_id: int,
                    allocation_id: int, now: datetime | None = None) -> Grant | None:
    """The grant that lets this organisation use the dataset for this allocation now (the
    one lasting longest), or None. For open and registered datasets no grant is needed: use
    `decide_read` with the project to decide."""
    now = now or utcnow()
    project = project_of_allocation(session, allocation_id)
    if project.organisation_id != organisation_id:
        return None
    grants = grants_of(session, dataset.id, [organisation_id])
    facts = [grant_facts(g) for g in grants]
    candidates = [f for f in facts if rules.grant_covers(f, project)
                  and rules.grant_is_valid(f, now)
                  and (dataset.access_level is not AccessLevel.permit or f.permit_reference)]
    if not candidates:
        return None
    best = max(candidates, key=lambda f: (f.expires_at, f.id))
    return next(g for g in grants if g.id == best.id)


def decide_read(session: Session, principal: Principal | None, dataset: Dataset, *,
                now: datetime | None = None, project: rules.Project | None = None
                ) -> rules.ReadDecision:
    """Whether `principal` (None: anonymous) may read the dataset's data now, for `project`
    when given (staging names the job's allocation)."""
    now = now or utcnow()
    signed_in = principal is not None and principal.user_id is not None
    orgs = (frozenset({project.organisation_id}) if project is not None
            else (principal.organisation_ids if principal is not None else frozenset()))
    reader = rules.ReaderFacts(signed_in=signed_in,
                               is_steward=is_steward(session, principal, dataset.id),
                               organisation_ids=orgs)
    grants = ([] if not dataset.access_level.needs_grant
              else [grant_facts(g) for g in grants_of(session, dataset.id, sorted(orgs))])
    return rules.may_read(dataset.access_level, reader, grants, now, project=project)


def require_read(session: Session, principal: Principal | None, dataset: Dataset, *,
                 now: datetime | None = None, project: rules.Project | None = None
                 ) -> rules.ReadDecision:
    """`decide_read`, raising when refused: Unauthenticated (sign in) or PolicyRefusal."""
    decision = decide_read(session, principal, dataset, now=now, project=project)
    if not decision.allowed:
        if decision.rule == "datalab.sign-in":
            raise Unauthenticated(decision.reason)
        raise PolicyRefusal(f"dataset {dataset.slug}: {decision.reason}", rule=decision.rule)
    return decision


def record_read(session: Session, *, dataset: Dataset, principal: Principal | None,
                action: ReadAction, decision: rules.ReadDecision,
                distribution: Distribution | None = None, purpose: str = "",
                organisation_id: int | None = None, job_id: int | None = None,
                detail: dict[str, Any] | None = None, now: datetime | None = None
                ) -> ReadEvent:
    """Append one read to the log (in the caller's transaction). Without a purpose of its own
    a read under a grant is logged with the grant's purpose."""
    grant = decision.grant
    if organisation_id is None and grant is not None:
        organisation_id = grant.organisation_id
    event = ReadEvent(
        dataset_id=dataset.id, distribution_id=distribution.id if distribution else None,
        user_id=principal.user_id if principal else None,
        who=principal.email if principal is not None and principal.user_id is not None
        else ("system" if principal is not None else "anonymous"),
        organisation_id=organisation_id, grant_id=grant.id if grant else None,
        action=action, purpose=(purpose or (grant.purpose if grant else ""))[:4000],
        job_id=job_id, rule=decision.rule, detail=detail or {}, at=now or utcnow())
    session.add(event)
    session.flush()
    return event


def reads_of(session: Session, dataset: Dataset, *, after: int = 0, limit: int = 100
             ) -> list[ReadEvent]:
    return list(session.execute(select(ReadEvent).where(
        ReadEvent.dataset_id == dataset.id, ReadEvent.id > after)
        .order_by(ReadEvent.id).limit(limit)).scalars())


def list_reads(session: Session, principal: Principal, slug: str, *, after: int = 0,
               limit: int = 100) -> tuple[Dataset, list[ReadEvent]]:
    """The read log of a dataset: for its stewards only. Raises: NotFound, Forbidden."""
    dataset = get_dataset(session, principal, slug)
    _require_steward(session, principal, dataset, "see who read it")
    return dataset, reads_of(session, dataset, after=after, limit=limit)


def count_reads(session: Session, dataset_id: int) -> int:
    return session.execute(select(func.count()).select_from(ReadEvent).where(
        ReadEvent.dataset_id == dataset_id)).scalar_one()


def blob_path(cfg: DatalabConfig, dist: Distribution) -> Path:
    """A local file with the distribution's content (for staging)."""
    return cfg.store.local_path(dist.blob_key)


# --- the DCAT-AP export -----------------------------------------------------------------------


def catalogue_records(session: Session) -> list[dcat.DatasetRecord]:
    """Every dataset in the catalogue (not withdrawn) as plain records for `dcat.build_graph`."""
    datasets = list(session.execute(select(Dataset).where(Dataset.withdrawn_at.is_(None))
                                    .order_by(Dataset.id)).scalars())
    dists = distributions_of(session, [d.id for d in datasets])
    return [dcat.DatasetRecord(
        slug=d.slug, title=d.title, description=d.description, publisher_name=d.publisher_name,
        publisher_uri=d.publisher_uri, themes=d.themes, data_space=d.data_space,
        licence=d.licence, spatial=d.spatial, temporal_start=d.temporal_start,
        temporal_end=d.temporal_end, keywords=d.keywords, access_level=d.access_level,
        landing_page=d.landing_page, contact_email=d.contact_email, issued=d.issued,
        created_at=d.created_at, modified_at=d.modified_at,
        distributions=[dcat.DistributionRecord(
            id=x.id, file_name=x.file_name, title=x.title, media_type=x.media_type,
            file_type=x.file_type, byte_size=x.byte_size, sha256=x.sha256,
            created_at=x.created_at) for x in dists[d.id]])
        for d in datasets]
