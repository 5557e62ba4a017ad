"""The proposal wizard: 1. the project and the request, with the access mode suggested; 2. the
AI Act self-assessment; 3. the referral and submission. A draft is saved at the end of step 1
and can be resumed at any step until it is submitted."""

from __future__ import annotations

from datetime import date
from typing import Any

from babel import Locale
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from fabriek.access import policy as pol
from fabriek.access import rules
from fabriek.access import service as access
from fabriek.access.enums import ProposalState
from fabriek.access.models import Proposal
from fabriek.access.schemas import FOLLOW_UPS, ProposalCreate, ProposalUpdate
from fabriek.access.service import AccessConfig
from fabriek.access.suggest import RequestFacts, Suggestion, suggest_mode
from fabriek.compliance import service as compliance
from fabriek.compliance.schemas import AssessmentCreate
from fabriek.compliance.tree import Tree, load_tree
from fabriek.compliance.tree_engine import AnswerError, Outcome, assess, next_question
from fabriek.errors import FabriekError, Forbidden, NotFound
from fabriek.federation.referral_schemas import referral_read
from fabriek.identity import service as identity
from fabriek.identity.models import Organisation
from fabriek.identity.principal import Principal
from fabriek.kit.clock import utcnow
from fabriek.portal import forms, web
from fabriek.portal.i18n import N_
from fabriek.portal.web import Form, User

router = APIRouter(include_in_schema=False)

TEXT_FIELDS = ("title", "abstract", "sector", "gpu_hours", "gpu_model", "gpu_memory_gb",
               "storage_tb", "duration_months", "start_on", "datasets", "intended_system",
               "inference_percent", "ethics_commitment", "ethics_signed_by", "mode")
CHECKBOXES = ("civilian_use", "confidential")
# The EU's official languages: what an applicant may ask support in.
EU_LANGUAGES = ("bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "ga", "hr", "hu",
                "it", "lt", "lv", "mt", "nl", "pl", "pt", "ro", "sk", "sl", "sv")
# Schema fields shown under another name in the form.
FORM_NAME = {"inference_share": "inference_percent"}
KNOWN = (*TEXT_FIELDS, *CHECKBOXES, "languages")


def config_of(request: Request) -> AccessConfig:
    return request.app.state.access


# --- the organisation's standing, for the suggestion ----------------------------------------


def _standing(org: Organisation, config: AccessConfig) -> tuple[pol.Eligibility,
                                                               pol.Classification]:
    facts = pol.OrganisationFacts(
        kind=org.kind, country=org.country, founded_on=org.founded_on, headcount=org.headcount,
        turnover_eur=org.turnover_eur, balance_sheet_eur=org.balance_sheet_eur,
        public_control=org.public_control)
    return (pol.check_eligibility(org.country, config.policy.eligibility),
            pol.classify_organisation(facts, config.policy.classification, utcnow().date()))


def _number(text: str, kind: type = int) -> Any:
    try:
        return kind(text.replace(" ", "").replace(",", ".")) if text else None
    except ValueError:
        return None


def _suggestion(config: AccessConfig, org: Organisation, typed: dict[str, Any]) -> Suggestion:
    eligibility, classification = _standing(org, config)
    percent = _number(str(typed.get("inference_percent", "")), float)
    facts = RequestFacts(
        gpu_hours=_number(str(typed.get("gpu_hours", ""))),
        duration_months=_number(str(typed.get("duration_months", ""))),
        storage_tb=_number(str(typed.get("storage_tb", "")), float) or 0.0,
        inference_share=(percent or 0.0) / 100)
    return suggest_mode(facts, config.policy.modes, eligibility, classification,
                        utcnow().date())


# --- step 1: the form ----------------------------------------------------------------------


def _choices(request: Request) -> dict[str, Any]:
    """What the form's lists offer: sectors, GPUs and languages from the policy files."""
    catalogue = config_of(request).federation.catalogue
    locale = Locale.parse(web.lang_of(request))
    families = sorted({g.family for g in catalogue.gpu_specs.gpus})
    return {
        "sectors": [(s.id, s.label) for s in catalogue.sectors.sectors],
        "gpu_models": [(f, f) for f in families]
                      + [(g.model, g.model) for g in catalogue.gpu_specs.gpus],
        "language_choices": [(code, locale.languages.get(code, code).capitalize())
                      for code in EU_LANGUAGES],
    }


def _typed(form: FormData) -> dict[str, Any]:
    typed: dict[str, Any] = forms.values(form, TEXT_FIELDS)
    typed.update({name: forms.checked(form, name) for name in CHECKBOXES})
    typed["languages"] = web.fields(form, "languages")
    return typed


def _typed_from(proposal: Proposal) -> dict[str, Any]:
    """A draft's values as the form shows them."""
    return {
        **{k: getattr(proposal, k) for k in ("title", "abstract", "sector", "gpu_hours",
                                            "gpu_memory_gb", "duration_months",
                                            "intended_system", "ethics_signed_by", "mode",
                                            "civilian_use", "confidential")},
        "gpu_model": proposal.gpu_model or "", "storage_tb": f"{proposal.storage_tb:g}",
        "start_on": proposal.start_on.isoformat(), "datasets": "\n".join(proposal.datasets),
        "languages": list(proposal.languages),
        "inference_percent": f"{proposal.inference_share * 100:g}",
        "ethics_commitment": proposal.ethics_commitment.value
        if proposal.ethics_commitment else "",
    }


def _schema_input(typed: dict[str, Any], organisation_id: int) -> dict[str, Any]:
    """The form's values as ProposalCreate takes them; empty fields are left out, so a missing
    required one is reported as such and optional ones take their defaults."""
    data: dict[str, Any] = forms.given({k: typed[k] for k in TEXT_FIELDS
                                        if k not in ("datasets", "inference_percent")})
    percent = typed.get("inference_percent", "")
    if percent:
        parsed = _number(percent, float)
        data["inference_share"] = parsed / 100 if parsed is not None else percent
    data.update(organisation_id=organisation_id, datasets=forms.lines(typed["datasets"]),
                languages=typed["languages"], civilian_use=typed["civilian_use"],
                confidential=typed["confidential"])
    return data


def _validated(typed: dict[str, Any], organisation_id: int
               ) -> tuple[ProposalCreate | None, forms.Problems | None]:
    try:
        return ProposalCreate.model_validate(_schema_input(typed, organisation_id)), None
    except ValidationError as exc:
        problems = forms.problems_of(exc)
        problems.fields = {FORM_NAME.get(k, k): v for k, v in problems.fields.items()}
        misplaced = [f"{k}: {v}" for k, v in problems.fields.items() if k not in KNOWN]
        problems.fields = {k: v for k, v in problems.fields.items() if k in KNOWN}
        problems.general += misplaced
        return None, problems


def _visible_org(session: Session, principal: Principal, organisation_id: int) -> Organisation:
    org = identity.get_organisation(session, principal, organisation_id)
    if not rules.is_applicant_of(principal, org.id):
        raise Forbidden("only members of the organisation may apply on its behalf")
    return org


def _form_page(request: Request, org: Organisation, typed: dict[str, Any], *,
               proposal_id: int | None = None, status_code: int = 200,
               problems: forms.Problems | None = None, error: str | None = None) -> Response:
    suggestion = _suggestion(config_of(request), org, typed)
    return web.render(request, "applicant/proposal_form.html", status_code=status_code,
                      org=org, typed=typed, proposal_id=proposal_id, problems=problems,
                      error=error, suggestion=suggestion, step=1, **_choices(request))


@router.get("/proposals/new")
def new_proposal(request: Request, principal: User, organisation: int) -> Response:
    org = web.in_transaction(request, lambda s: _visible_org(s, principal, organisation),
                             readonly=True)
    typed = {"start_on": date.today().isoformat(), "duration_months": "1", "storage_tb": "0",
             "inference_percent": "0", "languages": []}
    return _form_page(request, org, typed)


@router.get("/proposals/mode-suggestion")
def mode_suggestion(request: Request, principal: User, organisation: int) -> Response:
    """The access-mode choice alone, for the form to refresh as figures change (htmx)."""
    org = web.in_transaction(request, lambda s: _visible_org(s, principal, organisation),
                             readonly=True)
    typed = {k: request.query_params.get(k, "") for k in TEXT_FIELDS}
    return web.render(request, "applicant/_mode_choice.html", org=org, typed=typed,
                      suggestion=_suggestion(config_of(request), org, typed), problems=None)


@router.post("/proposals/new")
def create_proposal(request: Request, principal: User, form: Form, organisation: int
                    ) -> Response:
    org = web.in_transaction(request, lambda s: _visible_org(s, principal, organisation),
                             readonly=True)
    typed = _typed(form)
    if web.field(form, "action") == "suggest":
        return _form_page(request, org, typed)
    data, problems = _validated(typed, org.id)
    if data is None:
        return _form_page(request, org, typed, status_code=400, problems=problems)
    try:
        proposal_id = web.in_transaction(request, lambda s: access.create_proposal(
            s, principal, data, config=config_of(request)).id)
    except FabriekError as exc:
        return _form_page(request, org, typed, status_code=exc.status, error=exc.detail)
    return web.redirect(f"/proposals/{proposal_id}/self-assessment", flash="draft-saved")


def _draft(session: Session, principal: Principal, proposal_id: int
           ) -> tuple[Proposal, Organisation]:
    """A draft the principal may change, with its organisation; NotFound/Forbidden otherwise."""
    proposal = access.get_proposal(session, principal, proposal_id)
    if not rules.can_edit_proposal(principal, proposal.organisation_id):
        raise Forbidden("only members of the organisation may change its proposals")
    org = identity.get_organisation(session, principal, proposal.organisation_id)
    return proposal, org


def _not_a_draft(proposal: Proposal) -> Response | None:
    if proposal.state is not ProposalState.draft:
        return web.redirect(f"/proposals/{proposal.id}")
    return None


@router.get("/proposals/{proposal_id}/edit")
def edit_proposal(request: Request, principal: User, proposal_id: int) -> Response:
    proposal, org = web.in_transaction(request, lambda s: _draft(s, principal, proposal_id),
                                       readonly=True)
    return _not_a_draft(proposal) or _form_page(request, org, _typed_from(proposal),
                                                proposal_id=proposal.id)


@router.post("/proposals/{proposal_id}/edit")
def update_proposal(request: Request, principal: User, form: Form, proposal_id: int
                    ) -> Response:
    proposal, org = web.in_transaction(request, lambda s: _draft(s, principal, proposal_id),
                                       readonly=True)
    typed = _typed(form)
    if web.field(form, "action") == "suggest":
        return _form_page(request, org, typed, proposal_id=proposal.id)
    data, problems = _validated(typed, org.id)
    if data is None:
        return _form_page(request, org, typed, proposal_id=proposal.id, status_code=400,
                          problems=problems)
    # Every field is sent, so clearing an optional one (a GPU model) clears it in the draft.
    changes = ProposalUpdate.model_validate(
        data.model_dump(exclude={"organisation_id", *FOLLOW_UPS}))
    try:
        web.in_transaction(request, lambda s: access.update_proposal(
            s, principal, proposal.id, changes, config=config_of(request)))
    except FabriekError as exc:
        return _form_page(request, org, typed, proposal_id=proposal.id,
                          status_code=exc.status, error=exc.detail)
    return web.redirect(f"/proposals/{proposal.id}/self-assessment", flash="draft-saved")


# --- step 2: the AI Act self-assessment ------------------------------------------------------


def act_tree(request: Request) -> Tree:
    """The tree, loaded once per application from the policy directory (as the API does)."""
    state = request.app.state
    if getattr(state, "act_tree", None) is None:
        state.act_tree = load_tree(state.settings.policy_dir)
    return state.act_tree


ANSWER = "q."  # form fields of answers: "q.<question id>"


def _answers_from(form: FormData) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for key in {k for k in form if k.startswith(ANSWER)}:
        chosen = web.fields(form, key)
        if chosen:
            answers[key[len(ANSWER):]] = chosen
    return answers


def _on_path(tree: Tree, given: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The answers that lie on the path they take (an earlier answer changed may lead
    elsewhere; answers off the new path are dropped) and the next question, or None."""
    kept: dict[str, Any] = {}
    while True:
        question = next_question(tree, kept)
        if question is None or question.id not in given:
            return kept, question
        raw = given[question.id]
        kept[question.id] = raw if question.multiple else (raw[0] if isinstance(raw, list)
                                                            else raw)


def _assessment_page(request: Request, proposal: Proposal, answers: dict[str, Any], *,
                     status_code: int = 200, error: str | None = None,
                     error_question: str | None = None, attached: Outcome | None = None
                     ) -> Response:
    tree, lang = act_tree(request), web.lang_of(request)
    try:
        kept, pending = _on_path(tree, answers)
    except AnswerError as exc:
        kept, pending = {}, next_question(tree, {})
        error, error_question = exc.detail, exc.question
        status_code = 400
    outcome = assess(tree, kept, lang) if pending is None else None  # type: ignore[arg-type]
    asked = [(tree.data.question(qid), value) for qid, value in kept.items()]
    return web.render(request, "applicant/assessment.html", status_code=status_code,
                      proposal=proposal, tree=tree, act_lang=lang, asked=asked,
                      pending=pending, outcome=outcome, error=error,
                      error_question=error_question, attached=attached, step=2)


def _attached_answers(session: Session, principal: Principal, proposal_id: int
                      ) -> tuple[dict[str, Any], Outcome | None]:
    try:
        link = compliance.proposal_self_assessment(session, principal, proposal_id)
    except NotFound:
        return {}, None
    row = compliance.get_assessment(session, principal, link.assessment_id)
    return dict(row.answers), Outcome.model_validate(row.outcome)


@router.get("/proposals/{proposal_id}/self-assessment")
def assessment_step(request: Request, principal: User, proposal_id: int) -> Response:
    def load(s: Session) -> tuple[Proposal, dict[str, Any], Outcome | None]:
        proposal, _ = _draft(s, principal, proposal_id)
        return (proposal, *_attached_answers(s, principal, proposal_id))

    proposal, answers, attached = web.in_transaction(request, load, readonly=True)
    return _not_a_draft(proposal) or _assessment_page(request, proposal, answers,
                                                      attached=attached)


@router.post("/proposals/{proposal_id}/self-assessment")
def save_assessment(request: Request, principal: User, form: Form, proposal_id: int
                    ) -> Response:
    proposal, _ = web.in_transaction(request, lambda s: _draft(s, principal, proposal_id),
                                     readonly=True)
    if (redirect := _not_a_draft(proposal)) is not None:
        return redirect
    answers = _answers_from(form)
    if web.field(form, "action") != "save":
        return _assessment_page(request, proposal, answers)
    tree, lang = act_tree(request), web.lang_of(request)
    try:
        kept, pending = _on_path(tree, answers)
        if pending is not None:
            raise AnswerError(web.translate(
                request, N_("question '%(id)s' needs an answer: %(text)s"), id=pending.id,
                text=pending.text(lang)), question=pending.id)
        data = AssessmentCreate(organisation_id=proposal.organisation_id, lang=lang,
                                answers=kept)  # type: ignore[arg-type]

        def work(s: Session) -> None:
            row = compliance.create_assessment(s, principal, data, tree=tree)
            compliance.attach_to_proposal(s, principal, proposal.id, row.id)

        web.in_transaction(request, work)
    except AnswerError as exc:
        return _assessment_page(request, proposal, answers, status_code=400, error=exc.detail,
                                error_question=exc.question)
    except (FabriekError, ValidationError) as exc:
        detail = exc.detail if isinstance(exc, FabriekError) else str(exc)
        return _assessment_page(request, proposal, answers, status_code=400, error=detail)
    return web.redirect(f"/proposals/{proposal.id}/referral", flash="assessment-attached")


# --- step 3: the referral, then submission ---------------------------------------------------


def _referral_context(session: Session, request: Request, principal: Principal,
                      proposal_id: int) -> dict[str, Any]:
    proposal, org = _draft(session, principal, proposal_id)
    config = config_of(request)
    found = access.proposal_referral(session, principal, proposal_id, config=config)
    try:
        assessment = compliance.proposal_self_assessment(session, principal, proposal_id)
    except NotFound:
        assessment = None
    return {"proposal": proposal, "org": org, "assessment": assessment,
            "mode": config.mode(proposal.mode),
            "referral": referral_read(proposal.id, found, config.federation.referral.version)}


@router.get("/proposals/{proposal_id}/referral")
def referral_step(request: Request, principal: User, proposal_id: int) -> Response:
    context = web.in_transaction(request, lambda s: _referral_context(
        s, request, principal, proposal_id), readonly=True)
    return _not_a_draft(context["proposal"]) or web.render(
        request, "applicant/referral.html", step=3, **context)


@router.post("/proposals/{proposal_id}/submit")
def submit(request: Request, principal: User, form: Form, proposal_id: int) -> Response:
    web.in_transaction(request, lambda s: access.submit_proposal(
        s, principal, proposal_id, config=config_of(request)))
    return web.redirect(f"/proposals/{proposal_id}", flash="submitted")
