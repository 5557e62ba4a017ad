"""The data labs' pages: the catalogue with search and filters, a dataset's page (DCAT
metadata, files, profile, access conditions, the request form), files fetched through the
portal (each read logged, as through the API), my data requests and grants on /me, and the
data steward's queue (requests to decide, grants to revoke, each dataset's read log).

Every decision is the data lab's use cases' (`datalab.service`, `datalab.grants`): who sees a
request, who may decide it, whether a file may be read. The pages only gather and show.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from fabriek.access import service as access
from fabriek.access.enums import AllocationState
from fabriek.datalab import grants, service, views
from fabriek.datalab.enums import AccessLevel, ReadAction
from fabriek.datalab.models import Dataset
from fabriek.datalab.schemas import AccessRequestCreate, Decision, Revocation, Withdrawal
from fabriek.datalab.service import DatalabConfig
from fabriek.errors import FabriekError, Forbidden
from fabriek.identity import service as identity
from fabriek.identity.enums import Role
from fabriek.identity.principal import Principal
from fabriek.kit.clock import utcnow
from fabriek.portal import forms, web
from fabriek.portal.i18n import N_
from fabriek.portal.web import Form, User, Viewer

router = APIRouter(include_in_schema=False)
log = logging.getLogger("fabriek.portal.datalab")

PAGE = 50  # datasets per catalogue page
READS_PAGE = 100  # read-log entries per page
REQUEST_FIELDS = ("project", "purpose", "expires_on", "permit_reference")
DECISION_FIELDS = ("decision", "reasons", "expires_on")
FILTERS = ("q", "data_space", "theme", "access_level", "licence", "factory")
LEVEL_LABELS = {AccessLevel.open: N_("Open"), AccessLevel.registered: N_("Registered users"),
                AccessLevel.approval: N_("Steward approval"),
                AccessLevel.permit: N_("Data permit")}
STREAM_CHUNK = 1 << 20


def _cfg(request: Request) -> DatalabConfig:
    return request.app.state.datalab


def _name(names: Any, lang: str) -> str:
    """A policy label (en/nl) or a dataset's {lang: text}, in the page's language."""
    if isinstance(names, dict):
        return names.get(lang) or names.get("en") or next(iter(names.values()), "")
    return getattr(names, lang, None) or names.en


def _vocabulary(cfg: DatalabConfig, lang: str) -> dict[str, Any]:
    policy = cfg.policy
    return {
        "data_spaces": [(d.id, _name(d.name, lang)) for d in policy.data_spaces],
        "themes": [(t.id, _name(t.name, lang)) for t in policy.themes],
        "licences": [(lic.id, lic.name) for lic in policy.licences],
        "levels": [(level.value, LEVEL_LABELS[level]) for level in AccessLevel],
    }


# --- the catalogue -------------------------------------------------------------------------------


def _filter_problems(cfg: DatalabConfig, chosen: dict[str, str],
                     factories: list[tuple[str, str]]) -> list[str]:
    """Filters naming nothing the catalogue knows: said plainly rather than an empty list."""
    known = {"data_space": {d.id for d in cfg.policy.data_spaces},
             "theme": {t.id for t in cfg.policy.themes},
             "licence": {lic.id for lic in cfg.policy.licences},
             "access_level": {level.value for level in AccessLevel},
             "factory": {f for f, _ in factories}}
    return [name for name, allowed in known.items()
            if chosen[name] and chosen[name] not in allowed]


@router.get("/data")
def catalogue(request: Request, viewer: Viewer, q: str = "", data_space: str = "",
              theme: str = "", access_level: str = "", licence: str = "", factory: str = "",
              after: int = 0) -> Response:
    cfg, lang = _cfg(request), web.lang_of(request)
    chosen = {"q": q.strip()[:200], "data_space": data_space, "theme": theme,
              "access_level": access_level, "licence": licence, "factory": factory}

    def work(s: Session) -> dict[str, Any]:
        factories = views.factories_with_datasets(s)
        bad = _filter_problems(cfg, chosen, factories)
        datasets = [] if bad else service.list_datasets(
            s, viewer, q=chosen["q"] or None, data_space=data_space or None,
            theme=theme or None, access_level=AccessLevel(access_level) if access_level
            else None, licence=licence or None, factory_id=factory or None,
            after=max(after, 0), limit=PAGE + 1)
        return {"factories": factories, "bad_filters": bad,
                "datasets": service.dataset_summaries(s, datasets[:PAGE]),
                "more": len(datasets) > PAGE}

    context = web.in_transaction(request, work, readonly=True)
    vocabulary = _vocabulary(cfg, lang)
    query = {k: v for k, v in chosen.items() if v}
    next_url = None
    if context["more"]:
        next_url = "/data?" + urlencode({**query, "after": context["datasets"][-1].id})
    return web.render(
        request, "datalab/catalogue.html", status_code=400 if context["bad_filters"] else 200,
        chosen=chosen, filtered=bool(query), next_url=next_url, after=max(after, 0),
        space_names=dict(vocabulary["data_spaces"]),
        licence_names=dict(vocabulary["licences"]), **vocabulary, **context)


# --- a dataset ------------------------------------------------------------------------------------


def _projects(s: Session, principal: Principal) -> list[tuple[str, str]]:
    """The allocations of the person's organisations a grant can still serve, as choices."""
    choices = []
    names = identity.organisation_names(s, principal, principal.organisation_ids)
    for org_id in sorted(principal.organisation_ids):
        org = names.get(org_id, str(org_id))
        for allocation in access.list_allocations(s, principal, organisation_id=org_id,
                                                  limit=200):
            if allocation.state not in (AllocationState.active, AllocationState.scheduled):
                continue
            title = access.get_proposal(s, principal, allocation.proposal_id).title
            choices.append((str(allocation.id), f"{title} · {org} · allocation {allocation.id}"
                                                f" ({allocation.factory}, until "
                                                f"{allocation.end_on.isoformat()})"))
    return choices


@dataclass(frozen=True)
class ProfileView:
    """What the dataset page shows of a profile run: when, of which file, rows, columns."""

    finished_at: Any
    file_name: str
    rows: int | None
    columns: list[dict[str, Any]]


def _profile(s: Session, viewer: Principal | None, dataset: Dataset,
             files: dict[int, str]) -> ProfileView | None:
    """The newest finished profile the data-lab services made of the dataset that the viewer
    may see (the services decide: stewards see every run, others their own), when that
    capability is installed; else None, and the page shows the metadata alone."""
    if viewer is None:
        return None
    try:
        from fabriek.datalab import runs  # the dataset services, when present
    except ImportError:
        return None
    try:
        done = [r for r in runs.list_runs(s, viewer, dataset.slug, limit=1000)
                if str(getattr(r.service, "value", r.service)) == "profile"
                and str(getattr(r.state, "value", r.state)) == "done" and r.result]
        if not done:
            return None
        latest = done[-1]
        return ProfileView(finished_at=latest.finished_at,
                           file_name=files.get(latest.distribution_id, ""),
                           rows=latest.result.get("rows"),
                           columns=[dict(c) for c in latest.result.get("columns", [])])
    except (FabriekError, AttributeError, KeyError, TypeError, ValueError) as exc:
        # A shape this page does not know must not take the dataset's page down with it.
        log.warning("dataset %s: profile not shown: %s", dataset.slug, exc)
        return None


def _dataset_context(s: Session, request: Request, viewer: Principal | None, slug: str
                     ) -> dict[str, Any]:
    cfg, lang = _cfg(request), web.lang_of(request)
    dataset = service.get_dataset(s, viewer, slug)
    view = service.dataset_view(s, cfg, dataset)
    level = cfg.policy.access_level(dataset.access_level)
    space = cfg.policy.data_space(dataset.data_space)
    licence = cfg.policy.licence(dataset.licence)
    decision = service.decide_read(s, viewer, dataset)
    context: dict[str, Any] = {
        "dataset": view, "title": _name(view.title, lang),
        "description": _name(view.description, lang),
        "other_titles": {k: v for k, v in view.title.items() if k != lang},
        "space_name": _name(space.name, lang) if space else dataset.data_space,
        "space_homepage": str(space.homepage) if space else None,
        "theme_names": {t.id: _name(t.name, lang) for t in cfg.policy.themes},
        "theme_uri": cfg.policy.theme_uri,
        "licence": licence, "level_label": LEVEL_LABELS[dataset.access_level],
        "level_description": _name(level.description, lang),
        "factory_name": views.factory_name(s, dataset.factory_id),
        "may_read": decision,
        "profile": _profile(s, viewer, dataset, {d.id: d.file_name
                                                 for d in view.distributions}),
        "is_steward": service.is_steward(s, viewer, dataset.id),
        "my_requests": [], "my_grants": [], "projects": [],
        "default_expiry": (utcnow().date() + timedelta(days=cfg.policy.grants.default_days)),
        "maximum_days": cfg.policy.grants.maximum_days,
    }
    if viewer is not None and viewer.organisation_ids:
        context["my_requests"] = [grants.request_view(s, r) for r in grants.list_requests(
            s, viewer, dataset=dataset.slug, limit=50)]
        context["my_grants"] = [grants.grant_view(s, g) for g in grants.list_grants(
            s, viewer, dataset=dataset.slug, limit=50)]
        if dataset.access_level.needs_grant and dataset.withdrawn_at is None:
            context["projects"] = _projects(s, viewer)
    return context


def _dataset_page(request: Request, viewer: Principal | None, slug: str, *,
                  status_code: int = 200, typed: dict[str, str] | None = None,
                  problems: forms.Problems | None = None, error: str | None = None
                  ) -> Response:
    context = web.in_transaction(request, lambda s: _dataset_context(s, request, viewer, slug),
                                 readonly=True)
    if typed is None:
        typed = {k: "" for k in REQUEST_FIELDS}
        typed["expires_on"] = context["default_expiry"].isoformat()
        if len(context["projects"]) == 1:
            typed["project"] = context["projects"][0][0]
    return web.render(request, "datalab/dataset.html", status_code=status_code, typed=typed,
                      problems=problems, error=error, **context)


@router.get("/data/{slug}")
def dataset_page(request: Request, viewer: Viewer, slug: str) -> Response:
    return _dataset_page(request, viewer, slug)


@router.get("/data/{slug}/files/{distribution_id}")
def download(request: Request, viewer: Viewer, slug: str, distribution_id: int) -> Response:
    """A file, if the access conditions allow it now; the read is logged before the first
    byte is sent (the same service calls as the API's download)."""

    def work(s: Session) -> tuple[str, int, str, str, str]:
        dataset = service.get_dataset(s, viewer, slug)
        dist = service.get_distribution(s, dataset, distribution_id)
        decision = service.require_read(s, viewer, dataset)
        service.record_read(s, dataset=dataset, principal=viewer, action=ReadAction.download,
                            decision=decision, distribution=dist,
                            detail={"via": "portal"})
        return dist.blob_key, dist.byte_size, dist.sha256, dist.media_type, dist.file_name

    key, size, sha, media, name = web.in_transaction(request, work)
    stream = _cfg(request).store.open(key)

    def chunks() -> Iterator[bytes]:
        with stream:
            yield from iter(lambda: stream.read(STREAM_CHUNK), b"")

    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return StreamingResponse(chunks(), media_type=media, headers={
        "Content-Length": str(size), "X-Checksum-Sha256": sha,
        "Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(sha)).decode()}:",
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                               f"filename*=UTF-8''{quote(name)}",
        "Cache-Control": "private, no-store"})


def _request_input(s: Session, principal: Principal, typed: dict[str, str]
                   ) -> tuple[AccessRequestCreate | None, forms.Problems]:
    """The form as AccessRequestCreate takes it: the project (an allocation of one of the
    person's organisations) decides the organisation."""
    problems = forms.Problems()
    data: dict[str, Any] = {"purpose": typed["purpose"], "expires_on": typed["expires_on"],
                            "permit_reference": forms.optional(typed["permit_reference"])}
    if not typed["project"].isdigit():
        problems.fields["project"] = "choose the project (an allocation of your organisation)"
    else:
        allocation = access.get_allocation(s, principal, int(typed["project"]))
        data.update(organisation_id=allocation.organisation_id, allocation_id=allocation.id)
    try:
        body = AccessRequestCreate.model_validate(data)
    except ValidationError as exc:
        found = forms.problems_of(exc, known=REQUEST_FIELDS)
        if problems.fields.get("project"):
            found.general = [g for g in found.general if "project" not in g]
        problems.fields = {**found.fields, **problems.fields}
        problems.general += found.general
        return None, problems
    return (None, problems) if problems else (body, problems)


@router.post("/data/{slug}/request")
def request_access(request: Request, principal: User, form: Form, slug: str) -> Response:
    typed = forms.values(form, REQUEST_FIELDS)
    cfg = _cfg(request)

    def work(s: Session) -> tuple[int | None, forms.Problems]:
        body, problems = _request_input(s, principal, typed)
        if body is None:
            return None, problems
        return grants.create_request(s, principal, slug, body, cfg=cfg).id, problems

    try:
        made, problems = web.in_transaction(request, work)
    except FabriekError as exc:
        if exc.status == 404 and "dataset" in exc.detail:
            raise
        return _dataset_page(request, principal, slug, status_code=exc.status, typed=typed,
                             error=exc.detail)
    if made is None:
        return _dataset_page(request, principal, slug, status_code=400, typed=typed,
                             problems=problems)
    return web.redirect(f"/data/{slug}#my-access", flash="data-requested")


@router.post("/data/requests/{request_id}/withdraw")
def withdraw_request(request: Request, principal: User, form: Form, request_id: int
                     ) -> Response:
    reason = Withdrawal(reason=web.field(form, "reason")[:2000]).reason
    web.in_transaction(request, lambda s: grants.withdraw(s, principal, request_id,
                                                          reason=reason))
    back = web.safe_path(web.field(form, "next") or "/me")
    return web.redirect(f"{back}#my-data", flash="data-request-withdrawn")


# --- /me ------------------------------------------------------------------------------------------


def me_section(request: Request, principal: Principal) -> dict[str, Any] | None:
    """What templates/datalab/_me.html shows: my organisations' data requests and grants,
    and for a data steward the size of the queue. None when there is nothing to show."""
    if not (principal.organisation_ids or principal.has(Role.data_steward)):
        return None

    def work(s: Session) -> dict[str, Any]:
        out: dict[str, Any] = {"requests": [], "grants": [], "pending_to_decide": None}
        if principal.organisation_ids:
            out["requests"] = [grants.request_view(s, r) for r in sorted(
                grants.list_requests(s, principal, limit=200), key=lambda r: -r.id)]
            out["grants"] = [grants.grant_view(s, g) for g in sorted(
                grants.list_grants(s, principal, limit=200), key=lambda g: -g.id)]
        if principal.has(Role.data_steward):
            out["pending_to_decide"] = len(grants.list_requests(s, principal, queue=True,
                                                                limit=1000))
        return out

    return web.in_transaction(request, work, readonly=True)


# --- the data steward's queue ---------------------------------------------------------------------


def _require_steward(principal: Principal) -> None:
    if not principal.has(Role.data_steward):
        raise Forbidden("this page is for data stewards")


def _queue_context(s: Session, request: Request, principal: Principal) -> dict[str, Any]:
    lang = web.lang_of(request)
    pending = grants.list_requests(s, principal, queue=True, limit=200)
    orgs, projects = views.request_parties(s, pending)
    valid = grants.list_grants(s, principal, stewarded=True, valid_only=True, limit=500)
    grant_orgs, grant_projects = views.request_parties(s, valid)  # type: ignore[arg-type]
    mine = views.stewarded(s, principal)
    return {
        "pending": [grants.request_view(s, r) for r in pending],
        "organisations": {**orgs, **grant_orgs}, "projects": {**projects, **grant_projects},
        "grants": [grants.grant_view(s, g) for g in valid],
        "datasets": [(d.slug, _name(d.title, lang), d.access_level, d.withdrawn_at,
                      service.count_reads(s, d.id)) for d in mine],
        "today": utcnow().date(),
    }


def _queue(request: Request, principal: Principal, *, status_code: int = 200,
           errors: dict[str, str] | None = None, typed: dict[str, dict[str, str]] | None = None,
           field_errors: dict[str, dict[str, str]] | None = None) -> Response:
    _require_steward(principal)
    context = web.in_transaction(request, lambda s: _queue_context(s, request, principal),
                                 readonly=True)
    return web.render(request, "datalab/steward.html", status_code=status_code,
                      errors=errors or {}, typed=typed or {}, field_errors=field_errors or {},
                      **context)


@router.get("/steward")
def steward_queue(request: Request, principal: User) -> Response:
    return _queue(request, principal)


@router.post("/steward/requests/{request_id}/decide")
def decide(request: Request, principal: User, form: Form, request_id: int) -> Response:
    _require_steward(principal)
    typed = forms.values(form, DECISION_FIELDS)
    key = f"request-{request_id}"
    data: dict[str, Any] = {"reasons": typed["reasons"],
                            "expires_on": forms.optional(typed["expires_on"])}
    problems = forms.Problems()
    if typed["decision"] not in ("approve", "reject"):
        problems.fields["decision"] = "choose approve or reject"
    else:
        data["approve"] = typed["decision"] == "approve"
    try:
        body = Decision.model_validate(data)
    except ValidationError as exc:
        found = forms.problems_of(exc, known=DECISION_FIELDS)
        problems.fields = {**found.fields, **problems.fields}
        problems.general += [g for g in found.general if "approve" not in g]
        body = None
    if body is None or problems:
        return _queue(request, principal, status_code=400, typed={key: typed},
                      field_errors={key: problems.fields},
                      errors={key: "; ".join(problems.general) or
                              "the decision is incomplete: see the marked fields"})
    cfg = _cfg(request)
    try:
        web.in_transaction(request, lambda s: grants.decide(s, principal, request_id, body,
                                                            cfg=cfg))
    except FabriekError as exc:
        if exc.status == 404:
            raise
        return _queue(request, principal, status_code=exc.status, typed={key: typed},
                      errors={key: exc.detail})
    return web.redirect("/steward", flash="data-decided")


@router.post("/steward/grants/{grant_id}/revoke")
def revoke(request: Request, principal: User, form: Form, grant_id: int) -> Response:
    _require_steward(principal)
    key = f"grant-{grant_id}"
    typed = {"reason": web.field(form, "reason")}
    try:
        body = Revocation.model_validate(typed)
    except ValidationError as exc:
        problems = forms.problems_of(exc, known=("reason",))
        return _queue(request, principal, status_code=400, typed={key: typed},
                      field_errors={key: problems.fields},
                      errors={key: "the revocation needs a reason"})
    try:
        web.in_transaction(request, lambda s: grants.revoke(s, principal, grant_id,
                                                            reason=body.reason))
    except FabriekError as exc:
        if exc.status == 404:
            raise
        return _queue(request, principal, status_code=exc.status, typed={key: typed},
                      errors={key: exc.detail})
    return web.redirect("/steward#grants", flash="grant-revoked")


@router.get("/steward/datasets/{slug}/reads")
def read_log(request: Request, principal: User, slug: str, after: int = 0) -> Response:
    _require_steward(principal)
    lang = web.lang_of(request)

    def work(s: Session) -> dict[str, Any]:
        dataset, rows = service.list_reads(s, principal, slug, after=max(after, 0),
                                           limit=READS_PAGE + 1)
        files = {d.id: d.file_name for d in service.distributions_of(s, [dataset.id])[
            dataset.id]}
        return {"dataset": dataset, "title": _name(dataset.title, lang),
                "reads": rows[:READS_PAGE], "more": len(rows) > READS_PAGE, "files": files,
                "organisations": views.legal_names(s, (r.organisation_id for r in rows))}

    context = web.in_transaction(request, work, readonly=True)
    next_url = None
    if context["more"]:
        next_url = f"/steward/datasets/{slug}/reads?after={context['reads'][-1].id}"
    return web.render(request, "datalab/reads.html", next_url=next_url, after=max(after, 0),
                      **context)
