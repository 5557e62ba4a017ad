"""The simulated federation: partitions, sizing, and who each trace user is (seeded).

Pure: no I/O except reading the access-modes policy through `AccessPolicy.load()` at the edge
(`users_for`, which takes the loaded modes policy as an argument).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from fabriek.access.policy_files import AccessModesPolicy
from fabriek.errors import ValidationFailed
from fabriek.federation.domain import PartitionProfile
from fabriek.federation.simulation.trace import TraceJob

NODE_GPUS = 8  # the generated layout uses nodes of 8 GPUs (HGX-style, as most AI Factories)


class OrgType(StrEnum):
    startup = "startup"
    sme = "sme"
    research = "research"
    large_enterprise = "large-enterprise"
    public_authority = "public-authority"


# Default shares of trace users by organisation type. An assumption, not a measurement: the
# AI Factories' stated audience is start-ups/SMEs and science first (DESIGN §1); operators
# pass their own with `--shares`.
DEFAULT_SHARES: Mapping[OrgType, float] = {
    OrgType.startup: 0.20, OrgType.sme: 0.20, OrgType.research: 0.35,
    OrgType.large_enterprise: 0.15, OrgType.public_authority: 0.10,
}
# The access mode each type applies through (access-modes.yaml `who_may_apply`): start-ups and
# SMEs take Fast Lane, research and public authorities AI for Science, large enterprises Large
# Scale. A user whose trace work exceeds the mode's `gpu_hours_max` needs the overflow mode.
ORG_MODES: Mapping[OrgType, str] = {
    OrgType.startup: "fast-lane", OrgType.sme: "fast-lane", OrgType.research: "ai-for-science",
    OrgType.large_enterprise: "large-scale", OrgType.public_authority: "ai-for-science",
}
OVERFLOW_MODE = "large-scale"


@dataclass(frozen=True, slots=True)
class SimPartition:
    factory_id: str
    id: str
    gpus: int
    gpus_per_node: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.factory_id, self.id)

    @classmethod
    def of(cls, profile: PartitionProfile) -> SimPartition:
        """A catalogue partition as the simulator sees it."""
        return cls(profile.factory_id, profile.id, profile.gpus, profile.gpus_per_node)


@dataclass(frozen=True, slots=True)
class SimUser:
    name: str
    org_type: OrgType
    mode: str
    priority_class: str
    rank: int
    grant_gpu_hours: float  # the allocation's budget
    home_factory: str  # the baseline pins the user here


def unit_hash(seed: int, *parts: str) -> float:
    """A stable number in [0, 1) from the seed and the parts (same on every machine)."""
    digest = hashlib.blake2b("\x1f".join((str(seed), *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def check_shares(shares: Mapping[OrgType, float]) -> dict[OrgType, float]:
    if any(v < 0 for v in shares.values()) or not math.isclose(sum(shares.values()), 1.0,
                                                               abs_tol=1e-6):
        raise ValidationFailed("organisation-type shares must be ≥ 0 and add up to 1, got "
                               + ", ".join(f"{k}={v}" for k, v in shares.items()))
    return {t: float(shares.get(t, 0.0)) for t in OrgType}


def parse_shares(text: str) -> dict[OrgType, float]:
    """`startup=0.3,sme=0.2,...`: types not named get 0."""
    shares: dict[OrgType, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            shares[OrgType(name.strip())] = float(value)
        except ValueError:
            raise ValidationFailed(f"{part!r}: expected TYPE=SHARE with TYPE one of "
                                   f"{', '.join(OrgType)}") from None
    return check_shares(shares)


def org_type(seed: int, user: str, shares: Mapping[OrgType, float] = DEFAULT_SHARES) -> OrgType:
    """The seeded organisation type of a trace user: a stable hash into the cumulative shares."""
    x, acc = unit_hash(seed, "org", user), 0.0
    last = OrgType.startup
    for kind in OrgType:
        share = shares.get(kind, 0.0)
        if share <= 0:
            continue
        acc += share
        last = kind
        if x < acc:
            return kind
    return last  # rounding: the last type with a share


def users_for(jobs: Sequence[TraceJob], modes: AccessModesPolicy, factories: Sequence[str], *,
              seed: int, shares: Mapping[OrgType, float] = DEFAULT_SHARES,
              limit_factor: float = 1.0, budget_factor: float = 1.0,
              mode_caps: bool = True) -> dict[str, SimUser]:
    """Every trace user with type, mode, priority class and an allocation sized on its work
    (Σ GPUs × time limit × budget_factor; a factor below 1 makes admission refuse jobs)."""
    if not factories:
        raise ValidationFailed("the federation has no factories")
    worst: dict[str, float] = {}
    for j in jobs:
        worst[j.user] = worst.get(j.user, 0.0) + j.gpus * time_limit(j.duration_s,
                                                                     limit_factor) / 3600
    users: dict[str, SimUser] = {}
    for name in sorted(worst):
        kind = org_type(seed, name, shares)
        grant = worst[name] * budget_factor * (1 + 1e-9)  # margin for float summation order
        mode_id = ORG_MODES[kind]
        mode = modes.mode(mode_id)
        if mode is None:
            raise ValidationFailed(f"the access-modes policy has no mode {mode_id!r}")
        if mode_caps and mode.gpu_hours_max is not None and grant > mode.gpu_hours_max:
            mode_id = OVERFLOW_MODE
            mode = modes.mode(mode_id)
            if mode is None:
                raise ValidationFailed(f"the access-modes policy has no mode {mode_id!r}")
        cls = modes.priority(mode.priority_class)
        home = factories[int(unit_hash(seed, "home", name) * len(factories))]
        users[name] = SimUser(name, kind, mode.id, cls.id, cls.rank, grant, home)
    return users


def time_limit(duration_s: int, limit_factor: float) -> int:
    """The job's time limit: its trace duration × factor, rounded up to a whole second."""
    return max(1, math.ceil(duration_s * limit_factor))


def sized_gpus(offered_gpu_hours: float, window_s: int, load: float) -> int:
    """GPUs so the offered work is `load` of the capacity over the submission window:
    GPUs = offered GPU-hours / (load × window hours), rounded up to whole 8-GPU nodes."""
    if not 0 < load <= 10:
        raise ValidationFailed(f"--load must be above 0 (0.85 means 85 %), not {load}")
    if window_s <= 0:
        raise ValidationFailed("the trace's submissions span no time; give --gpus instead")
    gpus = offered_gpu_hours / (load * window_s / 3600)
    return max(NODE_GPUS, math.ceil(gpus / NODE_GPUS) * NODE_GPUS)


def layout(gpus: int, factories: int, largest_job: int) -> list[SimPartition]:
    """`gpus` spread over `factories` factories, one partition each, in whole nodes of 8 GPUs;
    nodes are dealt round-robin so sizes differ by at most one node."""
    if factories < 1:
        raise ValidationFailed(f"--factories must be at least 1, not {factories}")
    nodes = math.ceil(gpus / NODE_GPUS)
    min_nodes = max(1, math.ceil(largest_job / NODE_GPUS))
    if nodes // factories < min_nodes:
        raise ValidationFailed(
            f"{gpus} GPUs over {factories} factories leaves {nodes // factories} node(s) per "
            f"factory, but every partition must hold the largest job ({largest_job} GPUs = "
            f"{min_nodes} nodes of {NODE_GPUS}); use fewer factories or more GPUs")
    per = [nodes // factories + (1 if i < nodes % factories else 0) for i in range(factories)]
    return [SimPartition(f"factory-{i + 1:02d}", "gpu", n * NODE_GPUS, NODE_GPUS)
            for i, n in enumerate(per)]
