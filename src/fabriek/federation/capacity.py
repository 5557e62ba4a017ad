"""Pure capacity arithmetic: per partition and ISO week, the GPU-hours that exist, minus
maintenance, minus what allocations have committed — so nobody promises more than exists.

An allocation's GPU-hours are spread evenly over its days (start and end inclusive): a
3-month grant of 9,000 GPU-hours holds about 700 a week, not 9,000 in its first week. No I/O:
the live admission check, the acceptance guard and the simulator all call these functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from fabriek.federation.domain import Commitment, MaintenanceWindow, PartitionProfile

HOURS_PER_WEEK = 168.0
EPSILON = 1e-6


def week_of(day: date) -> date:
    """The Monday that starts the ISO week holding `day`."""
    return day - timedelta(days=day.weekday())


def weeks_between(start_on: date, end_on: date) -> list[date]:
    """Mondays of every week that holds a day of [start_on, end_on]."""
    weeks, week = [], week_of(start_on)
    while week <= end_on:
        weeks.append(week)
        week += timedelta(days=7)
    return weeks


def days_overlap(start_on: date, end_on: date, week: date) -> int:
    first, last = max(start_on, week), min(end_on, week + timedelta(days=6))
    return max((last - first).days + 1, 0)


def spread(gpu_hours: float, start_on: date, end_on: date, week: date) -> float:
    """The share of GPU-hours spread evenly over [start_on, end_on] that falls in `week`."""
    total_days = (end_on - start_on).days + 1
    if total_days <= 0:
        return 0.0
    return gpu_hours * days_overlap(start_on, end_on, week) / total_days


def _week_bounds(week: date) -> tuple[datetime, datetime]:
    start = datetime.combine(week, time(0), tzinfo=UTC)
    return start, start + timedelta(days=7)


def maintenance_hours(partition: PartitionProfile, windows: Iterable[MaintenanceWindow],
                      week: date) -> float:
    """GPU-hours of the week that maintenance windows take from the partition."""
    start, end = _week_bounds(week)
    lost = 0.0
    for w in windows:
        if w.factory_id != partition.factory_id or w.partition_id not in (None, partition.id):
            continue
        overlap = (min(w.ends_at, end) - max(w.starts_at, start)).total_seconds() / 3600
        if overlap > 0:
            lost += overlap * min(w.gpus if w.gpus is not None else partition.gpus,
                                  partition.gpus)
    return min(lost, partition.gpus * HOURS_PER_WEEK)


@dataclass(frozen=True, slots=True)
class WeekCapacity:
    week: date  # its Monday
    exists: float  # GPUs × 168 h
    maintenance: float
    committed: float  # by allocations already granted
    requested: float = 0.0  # this request's share of the week

    @property
    def free(self) -> float:
        return self.exists - self.maintenance - self.committed

    @property
    def fits(self) -> bool:
        return self.requested <= self.free + EPSILON


def committed_weeks(commitments: Iterable[Commitment], key: tuple[str, str], start_on: date,
                    end_on: date) -> dict[date, float]:
    """GPU-hours the commitments hold on partition `key` in each week of [start_on, end_on].

    The database keeps the same figures as a running ledger (one row per partition and week);
    this is its pure equivalent, for tests and the simulator.
    """
    weeks = weeks_between(start_on, end_on)
    out = dict.fromkeys(weeks, 0.0)
    for c in commitments:
        if (c.factory_id, c.partition_id) != key:
            continue
        for week in weeks:
            out[week] += spread(c.gpu_hours, c.start_on, c.end_on, week)
    return out


def week_table(partition: PartitionProfile, committed: Mapping[date, float],
               windows: Sequence[MaintenanceWindow], start_on: date, end_on: date,
               request_gpu_hours: float = 0.0, *, operational: bool = True
               ) -> list[WeekCapacity]:
    """One row per week of the window: what exists, maintenance, commitments, this request."""
    exists = partition.gpus * HOURS_PER_WEEK if operational else 0.0
    return [WeekCapacity(
        week=week, exists=exists,
        maintenance=maintenance_hours(partition, windows, week) if operational else 0.0,
        committed=committed.get(week, 0.0),
        requested=spread(request_gpu_hours, start_on, end_on, week))
        for week in weeks_between(start_on, end_on)]


@dataclass(frozen=True)
class Fit:
    partition: tuple[str, str]
    fits: bool
    weeks: list[WeekCapacity]
    message: str

    @property
    def tightest(self) -> WeekCapacity | None:
        """The week with the least room left after this request."""
        return min(self.weeks, key=lambda w: w.free - w.requested, default=None)

    @property
    def headroom(self) -> float:
        """Smallest ratio of free GPU-hours to this request's share over the weeks (inf if the
        request takes nothing)."""
        ratios = [w.free / w.requested for w in self.weeks if w.requested > EPSILON]
        return min(ratios) if ratios else float("inf")


def fit(partition: PartitionProfile, committed: Mapping[date, float],
        windows: Sequence[MaintenanceWindow], gpu_hours: float, start_on: date, end_on: date,
        *, operational: bool = True) -> Fit:
    """Whether `gpu_hours` spread over [start_on, end_on] fit in every week of the partition."""
    key = partition.key
    if end_on < start_on:
        return Fit(key, False, [], f"the window {start_on} to {end_on} ends before it starts")
    weeks = week_table(partition, committed, windows, start_on, end_on, gpu_hours,
                       operational=operational)
    where = f"{key[0]}/{key[1]}"
    if not operational:
        return Fit(key, False, weeks, f"{where} is not in operation yet")
    short = [w for w in weeks if not w.fits]
    if short:
        w = min(short, key=lambda w: w.free - w.requested)
        return Fit(key, False, weeks, (
            f"{where} cannot hold {gpu_hours:,.0f} GPU-hours from {start_on} to {end_on}: in the "
            f"week of {w.week} it has {max(w.free, 0):,.0f} GPU-hours free "
            f"({w.exists:,.0f} exist, {w.maintenance:,.0f} in maintenance, {w.committed:,.0f} "
            f"committed) and this request needs {w.requested:,.0f} of them"))
    tight = min(weeks, key=lambda w: w.free - w.requested)
    return Fit(key, True, weeks, (
        f"{where} holds {gpu_hours:,.0f} GPU-hours from {start_on} to {end_on}; tightest week "
        f"{tight.week}: {tight.free:,.0f} free for {tight.requested:,.0f} needed"))
