"""A synchronous Python client for the Fabriek REST API (/api/v1), over httpx.

    with FabriekClient("http://127.0.0.1:8000", token) as fab:
        org = fab.organisations.register({...}, vouch=True)
        draft = fab.proposals.create({...})
        decided = fab.proposals.submit(draft.id)

Responses come back as the schemas the server uses (`fabriek.access.schemas`,
`fabriek.identity.schemas`); a problem+json answer raises `FabriekApiError`.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from fabriek import __version__
from fabriek.access.schemas import (
    AllocationRead,
    DirectAllocationCreate,
    ProposalCreate,
    ProposalRead,
    ProposalUpdate,
    ReviewRead,
)
from fabriek.audit.schemas import AuditEventRead
from fabriek.client.datalab import DataLab
from fabriek.client.errors import FabriekApiError
from fabriek.client.models import ChainReport, CutoffReleased, Health, Page
from fabriek.compute.schemas import AllocationUsage, JobRead, JobSpec
from fabriek.datalab.run_schemas import RunRead
from fabriek.federation.referral_schemas import ReferralRead
from fabriek.federation.schemas import (
    CapacityUpdate,
    FactoryPage,
    FactoryRead,
    FactorySummary,
    GpuSpecRead,
    MaintenanceCreate,
    MaintenanceRead,
    PartitionRead,
)
from fabriek.identity.schemas import (
    EligibilityRead,
    MembershipRead,
    OrganisationCreate,
    OrganisationRead,
    OrganisationUpdate,
    TokenCreated,
    UserRead,
)
from fabriek.observatory.schemas import ObservatoryRead

DEFAULT_SERVER = "http://127.0.0.1:8000"
API_PREFIX = "/api/v1"
M = TypeVar("M", bound=BaseModel)
Body = BaseModel | Mapping[str, Any]


def _json_body(data: Body) -> Any:
    """Models send only the fields that were set (an update must not reset the rest); plain
    mappings go as they are, so the server, not the client, validates them."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json", exclude_unset=True)
    return to_jsonable_python(dict(data))


def _params(**values: Any) -> dict[str, Any]:
    return {k: to_jsonable_python(v) for k, v in values.items() if v is not None}


class FabriekClient:
    """One connection to a Fabriek server, acting as the person the token belongs to."""

    def __init__(self, server: str = DEFAULT_SERVER, token: str | None = None, *,
                 timeout: float = 30.0, transport: httpx.BaseTransport | None = None,
                 retries: int = 3, backoff: float = 0.25) -> None:
        http = httpx.Client(
            base_url=server.rstrip("/"), timeout=timeout, transport=transport,
            headers={"User-Agent": f"fabriek-client/{__version__}",
                     "Accept": "application/json"})
        self._bind(http, token, owns_http=True, retries=retries, backoff=backoff)
        self.server = server.rstrip("/")

    @classmethod
    def from_httpx(cls, client: httpx.Client, token: str | None = None, *, retries: int = 3,
                   backoff: float = 0.25) -> FabriekClient:
        """Wrap an existing httpx.Client (e.g. FastAPI's TestClient); it is not closed by us."""
        self = cls.__new__(cls)
        self._bind(client, token, owns_http=False, retries=retries, backoff=backoff)
        self.server = str(client.base_url).rstrip("/")
        return self

    def _bind(self, http: httpx.Client, token: str | None, *, owns_http: bool, retries: int,
              backoff: float) -> None:
        self._http = http
        self._owns_http = owns_http
        self.token = token
        self.retries = retries
        self.backoff = backoff
        self.organisations = Organisations(self)
        self.proposals = Proposals(self)
        self.reviews = Reviews(self)
        self.allocations = Allocations(self)
        self.audit = Audit(self)
        self.jobs = Jobs(self)
        self.factories = Factories(self)
        self.observatory = Observatory(self)
        self.datalab = DataLab(self)
        self.datalab_services = DatalabServices(self)

    # --- plumbing --------------------------------------------------------------------------

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> FabriekClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None, idempotency_key: str | None = None) -> Any:
        """Send one logical request and return the decoded JSON body.

        Every POST carries an Idempotency-Key, the same one on each retry, so a retry after a
        lost response returns the first result instead of acting twice. Only transport
        failures are retried; an HTTP error answer is final and raises FabriekApiError.
        """
        headers: dict[str, str] = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if method.upper() == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        attempt = 0
        while True:
            try:
                response = self._http.request(method, API_PREFIX + path, params=params,
                                              json=json, headers=headers)
                break
            except httpx.UnsupportedProtocol:
                raise  # a malformed server URL will not get better by waiting
            except httpx.TransportError:
                if attempt >= self.retries:
                    raise
                time.sleep(self.backoff * 2**attempt)
                attempt += 1
        if response.is_error:
            raise FabriekApiError.from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def raw(self, method: str, path: str, *, params: Mapping[str, Any] | None = None
            ) -> httpx.Response:
        """A request whose answer is not JSON (logs); errors still raise FabriekApiError."""
        response = self._http.request(method, API_PREFIX + path, params=params,
                                      headers=self._headers())
        if response.is_error:
            raise FabriekApiError.from_response(response)
        return response

    @contextlib.contextmanager
    def stream(self, method: str, path: str, *, params: Mapping[str, Any] | None = None
               ) -> Iterator[httpx.Response]:
        with self._http.stream(method, API_PREFIX + path, params=params,
                               headers=self._headers(), timeout=None) as response:
            if response.is_error:
                response.read()
                raise FabriekApiError.from_response(response)
            yield response

    def _get(self, path: str, model: type[M], **params: Any) -> M:
        return model.model_validate(self.request("GET", path, params=_params(**params)))

    def _post(self, path: str, model: type[M], body: Any = None, *,
              idempotency_key: str | None = None, **params: Any) -> M:
        return model.model_validate(self.request(
            "POST", path, json=body, params=_params(**params), idempotency_key=idempotency_key))

    def _page(self, path: str, model: type[M], *, limit: int, after: int,
              **params: Any) -> Page[M]:
        raw = self.request("GET", path, params=_params(limit=limit, after=after, **params))
        return Page(items=[model.model_validate(i) for i in raw["items"]],
                    next_after=raw.get("next_after"))

    def _iter(self, path: str, model: type[M], *, page_size: int, after: int = 0,
              **params: Any) -> Iterator[M]:
        cursor: int | None = after
        while cursor is not None:
            page = self._page(path, model, limit=page_size, after=cursor, **params)
            yield from page.items
            cursor = page.next_after

    def _list(self, path: str, model: type[M], *, limit: int, after: int, all: bool,
              **params: Any) -> list[M]:
        if all:
            return list(self._iter(path, model, page_size=limit, after=after, **params))
        return self._page(path, model, limit=limit, after=after, **params).items

    # --- people, policy, meta ----------------------------------------------------------------

    def health(self) -> Health:
        return self._get("/health", Health)

    def me(self) -> UserRead:
        return self._get("/me", UserRead)

    def create_user(self, email: str, *, display_name: str = "",
                    roles: list[str] | None = None, idempotency_key: str | None = None
                    ) -> UserRead:
        """An access officer creates a person with global roles (default: applicant)."""
        body: dict[str, Any] = {"email": email, "display_name": display_name}
        if roles:
            body["roles"] = [str(r) for r in roles]
        return self._post("/users", UserRead, body, idempotency_key=idempotency_key)

    def create_token(self, user_id: int, *, idempotency_key: str | None = None) -> TokenCreated:
        """A new API token for yourself or (access officers) anyone; shown only in this answer."""
        return self._post(f"/users/{user_id}/tokens", TokenCreated,
                          idempotency_key=idempotency_key)

    def eligibility(self, country: str) -> EligibilityRead:
        return self._get(f"/eligibility/{country}", EligibilityRead)

    def access_modes(self) -> dict[str, Any]:
        """The access-modes policy document in force (kept as data: it is versioned policy)."""
        result: dict[str, Any] = self.request("GET", "/policy/access-modes")
        return result

    def gpu_specs(self) -> list[GpuSpecRead]:
        """Peak dense BF16 and memory per GPU model, with sources."""
        return [GpuSpecRead.model_validate(g) for g in self.request("GET", "/gpu-specs")]

    def release_cutoff(self, mode: str) -> CutoffReleased:
        """Open review for every proposal of `mode` whose cut-off has passed. Safe to repeat."""
        return self._post("/cutoffs/release", CutoffReleased, {"mode": mode})


class _Resource:
    def __init__(self, client: FabriekClient) -> None:
        self._c = client


class Organisations(_Resource):
    def register(self, data: OrganisationCreate | Mapping[str, Any], vouch: bool = False, *,
                 idempotency_key: str | None = None) -> OrganisationRead:
        """Register an organisation (you become its admin); `vouch` vouches for its facts."""
        return self._c._post("/organisations", OrganisationRead, _json_body(data),
                             idempotency_key=idempotency_key, vouch=vouch or None)

    def list(self, *, limit: int = 50, after: int = 0, all: bool = False
             ) -> list[OrganisationRead]:
        return self._c._list("/organisations", OrganisationRead, limit=limit, after=after,
                             all=all)

    def iter(self, *, page_size: int = 100) -> Iterator[OrganisationRead]:
        return self._c._iter("/organisations", OrganisationRead, page_size=page_size)

    def get(self, organisation_id: int) -> OrganisationRead:
        return self._c._get(f"/organisations/{organisation_id}", OrganisationRead)

    def update(self, organisation_id: int, data: OrganisationUpdate | Mapping[str, Any]
               ) -> OrganisationRead:
        """Change facts; the organisation must be vouched for again afterwards."""
        return OrganisationRead.model_validate(self._c.request(
            "PATCH", f"/organisations/{organisation_id}", json=_json_body(data)))

    def vouch(self, organisation_id: int) -> OrganisationRead:
        return self._c._post(f"/organisations/{organisation_id}/vouch", OrganisationRead)

    def members(self, organisation_id: int) -> list[MembershipRead]:
        raw = self._c.request("GET", f"/organisations/{organisation_id}/members")
        return [MembershipRead.model_validate(m) for m in raw]

    def add_member(self, organisation_id: int, email: str, role: str = "member", *,
                   idempotency_key: str | None = None) -> MembershipRead:
        return self._c._post(f"/organisations/{organisation_id}/members", MembershipRead,
                             {"email": email, "role": str(role)},
                             idempotency_key=idempotency_key)


class Proposals(_Resource):
    def create(self, data: ProposalCreate | Mapping[str, Any], *,
               idempotency_key: str | None = None) -> ProposalRead:
        """Draft a proposal for one of your organisations; with `self_assessment_id` and
        `submit: True` in `data` it is also given its self-assessment and submitted, in one
        request that is applied whole or not at all."""
        return self._c._post("/proposals", ProposalRead, _json_body(data),
                             idempotency_key=idempotency_key)

    def list(self, *, state: str | None = None, mode: str | None = None,
             organisation_id: int | None = None, limit: int = 50, after: int = 0,
             all: bool = False) -> list[ProposalRead]:
        return self._c._list("/proposals", ProposalRead, limit=limit, after=after, all=all,
                             state=state, mode=mode, organisation_id=organisation_id)

    def iter(self, *, state: str | None = None, mode: str | None = None,
             organisation_id: int | None = None, page_size: int = 100) -> Iterator[ProposalRead]:
        return self._c._iter("/proposals", ProposalRead, page_size=page_size, state=state,
                             mode=mode, organisation_id=organisation_id)

    def get(self, proposal_id: int) -> ProposalRead:
        return self._c._get(f"/proposals/{proposal_id}", ProposalRead)

    def referral(self, proposal_id: int) -> ReferralRead:
        """The factories ranked for the proposal, every score explained term by term."""
        return self._c._get(f"/proposals/{proposal_id}/referral", ReferralRead)

    def update(self, proposal_id: int, data: ProposalUpdate | Mapping[str, Any]) -> ProposalRead:
        """Change a draft; omitted fields stay."""
        return ProposalRead.model_validate(self._c.request(
            "PATCH", f"/proposals/{proposal_id}", json=_json_body(data)))

    def submit(self, proposal_id: int, *, idempotency_key: str | None = None) -> ProposalRead:
        """Submit a draft; the admission checks run at once (Playground is decided on them)."""
        return self._c._post(f"/proposals/{proposal_id}/submit", ProposalRead,
                             idempotency_key=idempotency_key)

    def withdraw(self, proposal_id: int, reason: str, *, idempotency_key: str | None = None
                 ) -> ProposalRead:
        return self._c._post(f"/proposals/{proposal_id}/withdraw", ProposalRead,
                             {"reason": reason}, idempotency_key=idempotency_key)

    def appeal(self, proposal_id: int, reason: str, *, idempotency_key: str | None = None
               ) -> ProposalRead:
        return self._c._post(f"/proposals/{proposal_id}/appeal", ProposalRead,
                             {"reason": reason}, idempotency_key=idempotency_key)

    def decide(self, proposal_id: int, outcome: str, reasons: str, *,
               gpu_hours_granted: int | None = None, factory: str | None = None,
               partition: str | None = None, override_reason: str | None = None,
               idempotency_key: str | None = None) -> ProposalRead:
        """An access officer accepts, accepts with less, or rejects a proposal in review.

        `factory`/`partition` override the referral's first choice; that needs
        `override_reason`, which is audited."""
        body = _params(outcome=outcome, reasons=reasons, gpu_hours_granted=gpu_hours_granted,
                       factory=factory, partition=partition, override_reason=override_reason)
        return self._c._post(f"/proposals/{proposal_id}/decision", ProposalRead, body,
                             idempotency_key=idempotency_key)

    def decide_appeal(self, proposal_id: int, *, reopen: bool, reason: str,
                      idempotency_key: str | None = None) -> ProposalRead:
        """Reopen an appealed proposal for review (True) or let the rejection stand (False)."""
        return self._c._post(f"/proposals/{proposal_id}/appeal-decision", ProposalRead,
                             {"reopen": reopen, "reason": reason},
                             idempotency_key=idempotency_key)

    def assign_reviewer(self, proposal_id: int, reviewer_id: int, kind: str, *,
                        idempotency_key: str | None = None) -> ReviewRead:
        return self._c._post(f"/proposals/{proposal_id}/reviews", ReviewRead,
                             {"reviewer_id": reviewer_id, "kind": str(kind)},
                             idempotency_key=idempotency_key)


class Reviews(_Resource):
    def mine(self) -> list[ReviewRead]:
        """Your review assignments (those with a declared conflict are left out)."""
        return [ReviewRead.model_validate(r) for r in self._c.request("GET", "/reviews")]

    def declare_conflict(self, review_id: int, reason: str, *,
                         idempotency_key: str | None = None) -> ReviewRead:
        return self._c._post(f"/reviews/{review_id}/conflict", ReviewRead, {"reason": reason},
                             idempotency_key=idempotency_key)

    def submit(self, review_id: int, scores: Mapping[str, int], *,
               comment_to_applicant: str = "", private_comment: str = "",
               idempotency_key: str | None = None) -> ReviewRead:
        body = {"scores": dict(scores), "comment_to_applicant": comment_to_applicant,
                "private_comment": private_comment}
        return self._c._post(f"/reviews/{review_id}/submit", ReviewRead, body,
                             idempotency_key=idempotency_key)


class Allocations(_Resource):
    def list(self, *, organisation_id: int | None = None, limit: int = 50, after: int = 0,
             all: bool = False) -> list[AllocationRead]:
        return self._c._list("/allocations", AllocationRead, limit=limit, after=after, all=all,
                             organisation_id=organisation_id)

    def iter(self, *, organisation_id: int | None = None, page_size: int = 100
             ) -> Iterator[AllocationRead]:
        return self._c._iter("/allocations", AllocationRead, page_size=page_size,
                             organisation_id=organisation_id)

    def get(self, allocation_id: int) -> AllocationRead:
        return self._c._get(f"/allocations/{allocation_id}", AllocationRead)

    def move(self, allocation_id: int, sites: Mapping[str, float], reason: str
             ) -> AllocationRead:
        """Access officers: move or split an allocation; `sites` maps "factory/partition" to
        its part of the grant (0: valid there without holding capacity)."""
        body = {"reason": reason, "sites": [
            {"factory": key.split("/", 1)[0], "partition": key.split("/", 1)[-1],
             "gpu_hours": hours} for key, hours in sites.items()]}
        return AllocationRead.model_validate(self._c.request(
            "PUT", f"/allocations/{allocation_id}/sites", json=body))

    def direct(self, data: DirectAllocationCreate | Mapping[str, Any], *,
               idempotency_key: str | None = None) -> ProposalRead:
        """A strategic or emergency allocation by an access officer; returns its proposal."""
        return self._c._post("/allocations/direct", ProposalRead, _json_body(data),
                             idempotency_key=idempotency_key)


class Jobs(_Resource):
    def submit(self, spec: JobSpec | Mapping[str, Any], *,
               idempotency_key: str | None = None) -> JobRead:
        """Submit a job on an allocation; refused (422) when its worst case does not fit."""
        return self._c._post("/jobs", JobRead, _json_body(spec), idempotency_key=idempotency_key)

    def list(self, *, state: str | None = None, allocation_id: int | None = None,
             limit: int = 50, after: int = 0, all: bool = False) -> list[JobRead]:
        return self._c._list("/jobs", JobRead, limit=limit, after=after, all=all, state=state,
                             allocation_id=allocation_id)

    def get(self, job_id: int) -> JobRead:
        return self._c._get(f"/jobs/{job_id}", JobRead)

    def cancel(self, job_id: int) -> JobRead:
        return self._c._post(f"/jobs/{job_id}/cancel", JobRead)

    def logs(self, job_id: int, *, stream: str = "stdout", offset: int = 0) -> tuple[str, int]:
        """Output from `offset`, and the offset to ask from next time."""
        response = self._c.raw("GET", f"/jobs/{job_id}/logs",
                               params={"stream": stream, "offset": offset})
        return response.text, int(response.headers.get("X-Next-Offset", offset))

    def follow(self, job_id: int, *, stream: str = "stdout") -> Iterator[str]:
        """Output as it is written, until the job ends."""
        with self._c.stream("GET", f"/jobs/{job_id}/logs",
                            params={"stream": stream, "follow": "true"}) as response:
            yield from response.iter_text()

    def usage(self, allocation_id: int) -> AllocationUsage:
        return self._c._get(f"/allocations/{allocation_id}/usage", AllocationUsage)


class Audit(_Resource):
    def events(self, *, subject_type: str | None = None, subject_id: int | None = None,
               limit: int = 50, after: int = 0, all: bool = False) -> list[AuditEventRead]:
        return self._c._list("/audit", AuditEventRead, limit=limit, after=after, all=all,
                             subject_type=subject_type, subject_id=subject_id)

    def iter_events(self, *, subject_type: str | None = None, subject_id: int | None = None,
                    page_size: int = 200) -> Iterator[AuditEventRead]:
        return self._c._iter("/audit", AuditEventRead, page_size=page_size,
                             subject_type=subject_type, subject_id=subject_id)

    def verify(self) -> ChainReport:
        """Access officers: recompute the audit hash chain on the server."""
        return self._c._get("/audit/verify", ChainReport)


class Factories(_Resource):
    """The catalogue of AI Factories and Antennas (public), and operators' changes."""

    def page(self, *, kind: str | None = None, country: str | None = None,
             sector: str | None = None, limit: int = 50, after: str | None = None
             ) -> FactoryPage:
        return FactoryPage.model_validate(self._c.request("GET", "/factories", params=_params(
            kind=kind, country=country, sector=sector, limit=limit, after=after)))

    def list(self, *, kind: str | None = None, country: str | None = None,
             sector: str | None = None, limit: int = 50, after: str | None = None,
             all: bool = False) -> list[FactorySummary]:
        items: list[FactorySummary] = []
        cursor: str | None = after
        while True:
            page = self.page(kind=kind, country=country, sector=sector, limit=limit,
                             after=cursor)
            items += page.items
            cursor = page.next_after
            if not all or cursor is None:
                return items

    def get(self, factory_id: str) -> FactoryRead:
        return self._c._get(f"/factories/{factory_id}", FactoryRead)

    def set_capacity(self, factory_id: str, partition_id: str,
                     data: CapacityUpdate | Mapping[str, Any]) -> PartitionRead:
        """Operators: a partition's real nodes, GPUs per node (and model); basis `operator`."""
        return PartitionRead.model_validate(self._c.request(
            "PUT", f"/factories/{factory_id}/partitions/{partition_id}/capacity",
            json=_json_body(data)))

    def maintenance(self, factory_id: str) -> list[MaintenanceRead]:
        raw = self._c.request("GET", f"/factories/{factory_id}/maintenance")
        return [MaintenanceRead.model_validate(w) for w in raw]

    def add_maintenance(self, factory_id: str, data: MaintenanceCreate | Mapping[str, Any], *,
                        idempotency_key: str | None = None) -> MaintenanceRead:
        return self._c._post(f"/factories/{factory_id}/maintenance", MaintenanceRead,
                             _json_body(data), idempotency_key=idempotency_key)

    def remove_maintenance(self, factory_id: str, window_id: int) -> None:
        self._c.request("DELETE", f"/factories/{factory_id}/maintenance/{window_id}")

    def add_operator(self, factory_id: str, email: str, *,
                     idempotency_key: str | None = None) -> FactoryRead:
        """Access officers: make a person with the factory-operator role its operator."""
        return self._c._post(f"/factories/{factory_id}/operators", FactoryRead,
                             {"email": email}, idempotency_key=idempotency_key)


class Observatory(_Resource):
    """The programme's public figures (no token needed)."""

    def figures(self, *, days: int | None = None) -> ObservatoryRead:
        """Every figure; `days` is the window of utilisation and queue waits: 7, 30 (the
        default), 90 or 365."""
        return self._c._get("/observatory", ObservatoryRead, days=days)

    def csv(self, name: str, *, days: int | None = None) -> str:
        """One figure set as CSV text (time-to-first-job, gpu-hours, factories,
        startup-share, ai-act-models)."""
        return self._c.raw("GET", f"/observatory/{name}.csv", params=_params(days=days)).text

    def chart(self, name: str, *, days: int | None = None) -> str:
        """One dashboard chart as SVG text."""
        return self._c.raw("GET", f"/observatory/charts/{name}.svg",
                           params=_params(days=days)).text


class DatalabServices(_Resource):
    """Dataset services: profile, validate, convert, detect-personal-data, synthesize."""

    def start(self, slug: str, service: str, body: Mapping[str, Any] | None = None, *,
              idempotency_key: str | None = None) -> RunRead:
        return self._c._post(f"/datalab/datasets/{slug}/services/{service}", RunRead,
                             dict(body or {}), idempotency_key=idempotency_key)

    def get(self, run_id: int) -> RunRead:
        return self._c._get(f"/datalab/service-runs/{run_id}", RunRead)

    def list(self, slug: str, *, limit: int = 50, after: int = 0, all: bool = False
             ) -> list[RunRead]:
        return self._c._list(f"/datalab/datasets/{slug}/service-runs", RunRead, limit=limit,
                             after=after, all=all)

    def wait(self, run_id: int, *, interval: float = 0.5, timeout: float | None = None,
             on_progress: Any = None) -> RunRead:
        """Poll until the run is done or failed; `on_progress(run)` after each poll."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.get(run_id)
            if on_progress is not None:
                on_progress(run)
            if run.state.final:
                return run
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"service run {run_id} is still {run.state.value}")
            time.sleep(interval)
