"""Pure referral: ranking, hard exclusions, and explanations that add up to the scores."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabriek.federation.capacity import committed_weeks
from fabriek.federation.domain import (
    CapacityBasis,
    Commitment,
    ExecutorKind,
    FactoryProfile,
    Federation,
    GpuSpec,
    PartitionProfile,
    SiteKind,
)
from fabriek.federation.referral import ReferralRequest, refer
from fabriek.federation.referral_policy import ReferralPolicy

pytestmark = pytest.mark.unit
START = date(2026, 12, 7)
END = START + timedelta(days=27)
POLICY = ReferralPolicy.load()
SPECS = (
    GpuSpec("H100-SXM5-80GB", "H100", 80, 989.0, "datasheet"),
    GpuSpec("A100-SXM4-40GB", "A100", 40, 312.0, "datasheet"),
    GpuSpec("MI250X", "MI250X", 128, 383.0, "datasheet"),
)


def _part(factory: str, model: str, memory: int, nodes: int, executor=ExecutorKind.slurm):
    return PartitionProfile(factory, "gpu", model, memory, 4, nodes, CapacityBasis.estimate,
                            executor)


def _federation(*factories: FactoryProfile) -> Federation:
    return Federation(factories=factories, gpu_specs=SPECS)


HEALTH = FactoryProfile("health-h100", "Health H100", SiteKind.factory, "FI",
                        sectors=frozenset({"health"}), languages=frozenset({"fi", "en"}),
                        datasets=frozenset({"ehr-fi"}),
                        partitions=(_part("health-h100", "H100-SXM5-80GB", 80, 100),))
CLIMATE = FactoryProfile("climate-a100", "Climate A100", SiteKind.factory, "IT",
                         sectors=frozenset({"climate"}), languages=frozenset({"it", "en"}),
                         partitions=(_part("climate-a100", "A100-SXM4-40GB", 40, 100),))
SMALL = FactoryProfile("small-mi", "Small MI250X", SiteKind.factory, "ES",
                       sectors=frozenset({"health"}), languages=frozenset({"es", "en"}),
                       partitions=(_part("small-mi", "MI250X", 128, 1),))
ANTENNA = FactoryProfile("antenna-be", "AI Factory Antenna Belgium", SiteKind.antenna, "BE",
                         linked_factory="climate-a100")
PLANNED = FactoryProfile("planned", "Planned", SiteKind.factory, "DE", operational=False,
                         partitions=(_part("planned", "H100-SXM5-80GB", 80, 100),))
FED = _federation(HEALTH, CLIMATE, SMALL, ANTENNA, PLANNED)


def _held(c: Commitment):
    key = (c.factory_id, c.partition_id)
    return {key: committed_weeks([c], key, START, END)}


def _request(**over) -> ReferralRequest:
    fields = dict(gpu_hours=20_000, start_on=START, end_on=END, country="BE", sector="health",
                  datasets=frozenset({"ehr-fi"}), languages=frozenset({"en", "nl"}))
    return ReferralRequest(**{**fields, **over})


def test_ranking_prefers_sector_data_and_hardware_and_explains_each_term():
    ranked = refer(_request(), FED, {}, POLICY)
    assert [r.factory_id for r in ranked if r.eligible] == ["health-h100", "climate-a100"]
    best = {t.name: t for t in ranked[0].terms}
    assert set(best) == {"capacity", "sector", "data", "hardware", "antenna", "language"}
    assert best["sector"].value == 1 and "health" in best["sector"].explanation
    assert best["data"].value == 1 and "ehr-fi" in best["data"].explanation
    assert "989" in best["hardware"].explanation
    climate = {t.name: t for t in ranked[1].terms}
    assert climate["antenna"].value == 1
    assert "Antenna Belgium" in climate["antenna"].explanation
    assert best["antenna"].value == 0


def test_the_antennas_themselves_are_not_ranked():
    assert "antenna-be" not in {r.factory_id for r in refer(_request(), FED, {}, POLICY)}


def test_factories_that_cannot_keep_the_promise_are_excluded_with_reasons():
    ranked = {r.factory_id: r for r in refer(_request(), FED, {}, POLICY)}
    assert not ranked["small-mi"].eligible  # 4 GPUs cannot give 20,000 GPU-hours in 4 weeks
    assert "cannot hold" in ranked["small-mi"].excluded[0]
    assert not ranked["planned"].eligible
    assert ranked["planned"].excluded == ("not in operation yet",)
    assert [r.eligible for r in refer(_request(), FED, {}, POLICY)][-2:] == [False, False]


def test_gpu_model_and_memory_are_hard_limits():
    ranked = refer(_request(gpu_model="A100"), FED, {}, POLICY)
    assert [r.factory_id for r in ranked if r.eligible] == ["climate-a100"]
    health = next(r for r in ranked if r.factory_id == "health-h100")
    assert "not the A100 asked for" in health.excluded[0]
    ranked = refer(_request(gpu_memory_gb=64), FED, {}, POLICY)
    assert "climate-a100" not in {r.factory_id for r in ranked if r.eligible}


def test_commitments_lower_capacity_and_can_exclude():
    full = _held(Commitment("health-h100", "gpu", 400 * 168 * 4, START, END))
    ranked = {r.factory_id: r for r in refer(_request(), FED, full, POLICY)}
    assert not ranked["health-h100"].eligible
    half = _held(Commitment("health-h100", "gpu", 200 * 168 * 4, START, END))
    request = _request(gpu_hours=60_000)  # 4.5× free in an empty week, 2.2× with half taken
    free = {r.factory_id: r for r in refer(request, FED, {}, POLICY)}
    busy = {r.factory_id: r for r in refer(request, FED, half, POLICY)}
    assert busy["health-h100"].terms[0].points < free["health-h100"].terms[0].points


def test_only_connected_partitions_when_asked():
    offline = FactoryProfile("offline", "Offline", SiteKind.factory, "BE",
                             partitions=(_part("offline", "H100-SXM5-80GB", 80, 10,
                                               ExecutorKind.none),))
    ranked = {r.factory_id: r for r in refer(_request(), _federation(offline, HEALTH), {},
                                             POLICY, connected_only=True)}
    assert not ranked["offline"].eligible
    assert "not connected" in ranked["offline"].excluded[0]
    assert refer(_request(), _federation(offline), {}, POLICY)[0].eligible


@settings(max_examples=60, deadline=None)
@given(hours=st.integers(1, 200_000), sector=st.sampled_from(["health", "climate", None]),
       country=st.sampled_from(["BE", "FI", "IT", "NL"]),
       langs=st.sets(st.sampled_from(["en", "nl", "fi", "it"]), max_size=3),
       committed=st.integers(0, 300_000))
def test_explanations_add_up_to_the_scores(hours, sector, country, langs, committed):
    request = _request(gpu_hours=hours, sector=sector, country=country,
                       languages=frozenset(langs))
    ranked = refer(request, FED, _held(Commitment("climate-a100", "gpu", committed, START, END)),
                   POLICY)
    for r in ranked:
        assert r.score == pytest.approx(sum(t.points for t in r.terms), abs=1e-9)
        for t in r.terms:
            assert 0 <= t.value <= 1 and t.points == pytest.approx(t.weight * t.value, abs=1e-3)
            assert t.explanation
    scores = [r.score for r in ranked if r.eligible]
    assert scores == sorted(scores, reverse=True)
