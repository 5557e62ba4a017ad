"""How the API's objects look in a terminal; shared by the sub-apps and `fabriek demo`."""

from __future__ import annotations

from collections.abc import Sequence

from rich.padding import Padding
from rich.text import Text

from fabriek.access.schemas import AllocationRead, ProposalRead, ReviewRead
from fabriek.audit.schemas import AuditEventRead
from fabriek.cli import output as out
from fabriek.compute.schemas import AllocationUsage, JobRead
from fabriek.identity.schemas import EligibilityRead, OrganisationRead


def eligibility_line(e: EligibilityRead) -> Text:
    verdict = Text("eligible", style="bold green") if e.eligible \
        else Text("not eligible", style="bold red")
    return Text.assemble(verdict, f" — {e.reason}")


def organisation(org: OrganisationRead) -> None:
    c = org.classification
    out.show(out.fields(f"Organisation {org.id}: {org.legal_name}", [
        ("Country", org.country), ("Registration id", org.registration_id),
        ("VAT id", org.vat_id), ("Kind", org.kind.value), ("Founded on", org.founded_on),
        ("Head-count", org.headcount),
        ("Turnover (EUR)", f"{org.turnover_eur:,.0f}" if org.turnover_eur is not None else None),
        ("Balance sheet (EUR)",
         f"{org.balance_sheet_eur:,.0f}" if org.balance_sheet_eur is not None else None),
        ("Public control", org.public_control),
        ("Vouched", f"yes, {org.vouched_at:%Y-%m-%d %H:%M} UTC" if org.vouched_at
         else Text("no — an admin must run `fabriek org vouch`", style="yellow")),
        ("Size class", c.size_class), ("Categories", c.categories),
        ("Eligibility", eligibility_line(org.eligibility)),
    ]))
    if c.reasons:
        out.show(Text("Classification", style="bold"))
        for reason in c.reasons:
            out.show(Padding(Text(f"• {reason}"), (0, 0, 0, 2)))


def organisation_brief(org: OrganisationRead) -> None:
    """Who the organisation is in policy terms: size class, categories, eligibility, why."""
    c = org.classification
    out.show(out.fields(None, [
        ("Organisation", f"{org.id}: {org.legal_name} ({org.country}, {org.kind.value})"),
        ("Size class", c.size_class), ("Categories", c.categories),
        ("Eligibility", eligibility_line(org.eligibility)),
        ("Why", "\n".join(c.reasons)),
    ]))


def organisations(orgs: Sequence[OrganisationRead]) -> None:
    out.show(out.table("Organisations", ["id", "legal name", "country", "kind", "size",
                                         "categories", "vouched", "eligible"],
                       [(o.id, o.legal_name, o.country, o.kind.value,
                         o.classification.size_class, o.classification.categories,
                         o.vouched_at is not None, out.yes_no(o.eligibility.eligible))
                        for o in orgs]))


def proposal_summary(p: ProposalRead) -> None:
    out.show(out.fields(f"Proposal {p.id}{f' ({p.reference})' if p.reference else ''}: "
                        f"{p.title}", [
        ("State", out.state(p.state.value)), ("Organisation", p.organisation_id),
        ("Mode", p.mode), ("Sector", p.sector),
        ("GPU-hours", p.gpu_hours), ("GPU", " ".join(
            x for x in (p.gpu_model, f"{p.gpu_memory_gb} GB" if p.gpu_memory_gb else None) if x)
            or None),
        ("Storage (TB)", p.storage_tb), ("Duration", f"{p.duration_months} months"),
        ("Start on", p.start_on), ("Datasets", p.datasets),
        ("Intended system", p.intended_system), ("Inference share", f"{p.inference_share:.0%}"),
        ("Civilian use", p.civilian_use), ("Confidential", p.confidential),
        ("Ethics", f"{p.ethics_commitment.value}, signed by {p.ethics_signed_by}"
         if p.ethics_commitment else Text("none — add --ethics and --signed-by", "yellow")),
        ("Submitted", f"{p.submitted_at:%Y-%m-%d %H:%M} UTC" if p.submitted_at else None),
        ("Cut-off", f"{p.cutoff_at:%Y-%m-%d %H:%M} UTC" if p.cutoff_at else None),
        ("Decision due", f"{p.decision_due_at:%Y-%m-%d %H:%M} UTC" if p.decision_due_at
         else None),
    ]))


def checks(p: ProposalRead) -> None:
    if not p.checks:
        return
    out.show(out.table(f"Admission checks (attempt {p.checks[0].attempt})",
                       ["check", "passed", "rule", "message"],
                       [(c.check, out.yes_no(c.passed), c.rule, c.message) for c in p.checks]))


def reviews(items: Sequence[ReviewRead], title: str = "Reviews") -> None:
    if not items:
        return
    out.show(out.table(title, ["id", "proposal", "kind", "state", "scores", "weighted",
                               "comment"],
                       [(r.id, r.proposal_id, r.kind.value, out.state(r.state.value),
                         ", ".join(f"{k}={v}" for k, v in r.scores.items()),
                         f"{r.weighted_score:.2f}" if r.weighted_score is not None else None,
                         r.comment_to_applicant) for r in items]))


def decision(p: ProposalRead) -> None:
    if p.decision is None:
        return
    granted = f", {p.gpu_hours_granted:,} GPU-hours granted" if p.gpu_hours_granted else ""
    when = f" on {p.decided_at:%Y-%m-%d %H:%M} UTC" if p.decided_at else ""
    out.show(Text.assemble(("Decision: ", "bold"), out.state(p.state.value),
                           f"{granted}{when} — {p.decision_reasons}"))
    if p.appeal_reason:
        out.show(Text.assemble(("Appeal: ", "bold"), p.appeal_reason))
    if p.allocation_ids:
        ids = ", ".join(str(i) for i in p.allocation_ids)
        out.show(Text.assemble(("Allocation: ", "bold"), ids,
                               (f"  (`fabriek allocation show {p.allocation_ids[0]}`)", "dim")))


def proposal_outcome(p: ProposalRead) -> None:
    """State, checks and decision: what submitting a proposal led to."""
    out.show(Text.assemble(("Proposal ", "bold"), f"{p.id} {p.reference or ''}: ",
                           out.state(p.state.value)))
    checks(p)
    decision(p)


def proposal(p: ProposalRead) -> None:
    proposal_summary(p)
    checks(p)
    reviews(p.reviews)
    decision(p)


def proposals(items: Sequence[ProposalRead]) -> None:
    out.show(out.table("Proposals", ["id", "reference", "org", "mode", "state", "GPU-hours",
                                     "title"],
                       [(p.id, p.reference, p.organisation_id, p.mode, out.state(p.state.value),
                         p.gpu_hours, p.title) for p in items]))


def allocation(a: AllocationRead) -> None:
    out.show(out.fields(f"Allocation {a.id}", [
        ("State", out.state(a.state.value)), ("Proposal", a.proposal_id),
        ("Organisation", a.organisation_id), ("Factory", a.factory),
        ("Partition", a.partition), ("GPU-hours", a.gpu_hours),
        ("Used", a.gpu_hours_used), ("Left", a.gpu_hours_left),
        ("Usage", out.bar(a.gpu_hours_used, a.gpu_hours)),
        ("Storage (TB)", a.storage_tb), ("From", a.start_on), ("Until", a.end_on),
        ("Priority class", a.priority_class),
        ("Sites", "\n".join(f"{s.factory}/{s.partition}: {s.gpu_hours_committed:,.0f} GPU-h"
                              + (" (home)" if s.home else " (valid, holds none)"
                                 if not s.gpu_hours_committed else "") for s in a.sites) or "—"),
        ("Placement", a.placement_reason or "—"),
    ]))


def allocations(items: Sequence[AllocationRead]) -> None:
    out.show(out.table("Allocations", ["id", "proposal", "org", "factory", "partition",
                                       "GPU-hours", "used", "left", "from", "until",
                                       "priority", "state"],
                       [(a.id, a.proposal_id, a.organisation_id, a.factory, a.partition,
                         a.gpu_hours, a.gpu_hours_used, a.gpu_hours_left, a.start_on,
                         a.end_on, a.priority_class, out.state(a.state.value))
                        for a in items]))


def audit_events(items: Sequence[AuditEventRead]) -> None:
    rows = [(e.seq, f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.action,
             f"{e.subject_type} {e.subject_id}",
             f"{e.from_state or '∅'} → {e.to_state}" if e.to_state else None, e.reason)
            for e in items]
    out.show(out.table("Audit events", ["seq", "at (UTC)", "actor", "action", "subject",
                                        "change", "reason"], rows,
                       nowrap=("seq", "at (UTC)")))


def job(j: JobRead) -> None:
    how = " ".join(j.spec.get("command") or []) or "(script)"
    out.show(out.fields(f"Job {j.id}: {j.name}", [
        ("State", out.state(j.state.value)), ("Reason", j.reason or None),
        ("Allocation", j.allocation_id), ("Where", f"{j.factory}/{j.partition} ({j.executor})"),
        ("Scheduler id", j.external_id), ("Priority class", j.priority_class),
        ("Runs", how), ("GPUs", j.gpus), ("Time limit (min)", j.time_limit_minutes),
        ("Worst case (GPU-h)", f"{j.worst_case_gpu_hours:,.2f}"),
        ("Used (GPU-h)", f"{j.gpu_hours_used:,.4f}"), ("Model", j.model),
        ("Submitted", j.created_at), ("Started", j.started_at), ("Ended", j.ended_at),
        ("Exit code", j.exit_code), ("Signal", j.signal),
        ("Pre-empted", f"{j.preemptions} time(s), last {j.last_preempted_at:%Y-%m-%d %H:%M} UTC"
         if j.preemptions and j.last_preempted_at else None),
    ]))


def jobs(items: Sequence[JobRead]) -> None:
    out.show(out.table("Jobs", ["id", "name", "allocation", "state", "GPUs", "limit (min)",
                                "used (GPU-h)", "exit", "pre-empted"],
                       [(j.id, j.name, j.allocation_id, out.state(j.state.value), j.gpus,
                         j.time_limit_minutes, f"{j.gpu_hours_used:,.4f}", j.exit_code,
                         j.preemptions or None) for j in items]))


def usage(u: AllocationUsage) -> None:
    out.show(out.fields(f"Allocation {u.allocation_id} on {u.factory}/{u.partition}", [
        ("Granted (GPU-h)", f"{u.gpu_hours:,}"), ("Used", f"{u.gpu_hours_used:,.4f}"),
        ("Held by queued and running jobs", f"{u.gpu_hours_committed:,.4f}"),
        ("Left for new jobs", f"{u.gpu_hours_left:,.4f}"),
        ("Usage", out.bar(u.gpu_hours_used, u.gpu_hours)),
        ("Jobs", f"{u.jobs_active} active of {u.jobs_total}"),
        ("Valid", f"{u.start_on} to {u.end_on}"),
    ]))
    for w in u.warnings:
        out.show(Text(f"⚠ {w.message}", style="yellow"))
