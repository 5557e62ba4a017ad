"""The capacity admission check: plugs into the access capability's list of checks.

The access service puts the referral of the proposal (ranked against the capacity ledger) into
the check context; this pure function reads it. No mode can allocate more than exists: a
proposal no connected factory can hold in its window fails here, naming why.
"""

from __future__ import annotations

from fabriek.access.checks import CheckContext, CheckResult

RULE = "capacity: no mode can allocate more GPU-hours than exist"


def check_capacity(ctx: CheckContext) -> CheckResult:
    referral = ctx.extra.get("referral")
    if referral is None:
        return CheckResult("capacity", False, RULE, "capacity could not be checked: the "
                           "federation's catalogue is not loaded")
    request = referral.request
    window = f"{request.gpu_hours:,.0f} GPU-hours from {request.start_on} to {request.end_on}"
    if referral.eligible:
        best = referral.eligible[0]
        return CheckResult("capacity", True, RULE,
                           f"{best.factory_name} ({best.factory_id}/{best.partition_id}) can hold "
                           f"{window}; {len(referral.eligible)} factory(ies) could")
    from fabriek.federation.referrals import main_reasons

    reasons = main_reasons(referral)
    return CheckResult("capacity", False, RULE,
                       f"no factory connected to this installation can hold {window}"
                       + (f" ({'; '.join(reasons)})" if reasons else ""))
