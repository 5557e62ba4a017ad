"""Read-only look-ups the data-lab pages need beside the use cases in `service` and `grants`:
which factories hold data labs (a catalogue filter), the datasets a steward runs, and the
names behind the requests a steward may see. Each either reads public catalogue facts or
takes rows a use case already authorised."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from fabriek.access.models import Proposal
from fabriek.datalab.models import AccessRequest, Dataset, DatasetSteward
from fabriek.federation.models import Factory
from fabriek.identity.models import Organisation
from fabriek.identity.principal import Principal


def factories_with_datasets(session: Session) -> list[tuple[str, str]]:
    """(factory id, name) of every factory with a published dataset, by name (the catalogue
    is public)."""
    rows = session.execute(
        select(Factory.id, Factory.name).where(Factory.id.in_(
            select(Dataset.factory_id).where(Dataset.factory_id.is_not(None),
                                             Dataset.withdrawn_at.is_(None))))
        .order_by(Factory.name)).all()
    return [(factory_id, name) for factory_id, name in rows]


def factory_name(session: Session, factory_id: str | None) -> str | None:
    if factory_id is None:
        return None
    factory = session.get(Factory, factory_id)
    return factory.name if factory is not None else factory_id


def stewarded(session: Session, principal: Principal) -> list[Dataset]:
    """The datasets this person stewards, withdrawn ones too, by slug."""
    if principal.user_id is None:
        return []
    return list(session.execute(
        select(Dataset).join(DatasetSteward, DatasetSteward.dataset_id == Dataset.id)
        .where(DatasetSteward.user_id == principal.user_id).order_by(Dataset.slug)).scalars())


def legal_names(session: Session, organisation_ids: Iterable[int | None]) -> dict[int, str]:
    """Legal names of organisations named by rows the caller was already allowed to see (a
    request, a grant or a read of a dataset they steward)."""
    ids = sorted({i for i in organisation_ids if i is not None})
    if not ids:
        return {}
    return dict(session.execute(select(Organisation.id, Organisation.legal_name).where(
        Organisation.id.in_(ids))).all())


def request_parties(session: Session, requests: Iterable[AccessRequest]
                    ) -> tuple[dict[int, str], dict[int, str]]:
    """Legal names of the requesting organisations and titles of the projects, for requests
    the caller was already allowed to see (a steward decides knowing who asks, for what)."""
    rows = list(requests)
    proposal_ids = sorted({r.proposal_id for r in rows})
    orgs = legal_names(session, (r.organisation_id for r in rows))
    titles = dict(session.execute(select(Proposal.id, Proposal.title).where(
        Proposal.id.in_(proposal_ids))).all()) if proposal_ids else {}
    return orgs, titles
