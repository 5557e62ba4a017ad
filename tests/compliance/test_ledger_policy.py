"""The compute ledger's arithmetic and thresholds (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fabriek.compliance import ledger_policy as pol
from fabriek.compliance.ledger_gpus import peak_flops_of
from fabriek.federation.catalogue import default_catalogue, peak_bf16_flops

pytestmark = pytest.mark.unit

H100 = 989e12  # policy/gpu-specs.yaml: H100-SXM5-80GB, dense BF16


def test_gpu_hours_become_flop_at_the_default_40_percent() -> None:
    figures = pol.ledger([pol.JobCompute(1000.0, H100), pol.JobCompute(500.0, H100)])
    assert figures.basis is pol.Basis.estimate and figures.utilisation == 0.40
    assert figures.flop == pytest.approx(1500 * 3600 * H100 * 0.40)  # 2.137e21
    assert figures.gpu_hours == 1500 and figures.gpu_hours_unpriced == 0


def test_a_measured_utilisation_replaces_the_default() -> None:
    figures = pol.ledger([pol.JobCompute(1000.0, H100)], basis=pol.Basis.measured_utilisation,
                         utilisation=0.55)
    assert figures.flop == pytest.approx(1000 * 3600 * H100 * 0.55)
    assert figures.utilisation == 0.55


def test_reported_flop_is_taken_as_given() -> None:
    figures = pol.ledger([pol.JobCompute(1000.0, H100)], basis=pol.Basis.reported,
                         reported_flop=3.2e24)
    assert (figures.flop, figures.basis, figures.utilisation) == (3.2e24, pol.Basis.reported,
                                                                  None)


def test_hours_on_unknown_gpus_are_reported_not_guessed() -> None:
    figures = pol.ledger([pol.JobCompute(10.0, None), pol.JobCompute(5.0, H100)])
    assert figures.gpu_hours_unpriced == 10.0
    assert figures.flop == pytest.approx(5 * 3600 * H100 * 0.4)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.01])
def test_a_utilisation_outside_0_1_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        pol.ledger([pol.JobCompute(1.0, H100)], basis=pol.Basis.measured_utilisation,
                   utilisation=bad)


def test_a_reported_basis_needs_a_figure() -> None:
    with pytest.raises(ValueError, match="reported FLOP"):
        pol.ledger([], basis=pol.Basis.reported)


def test_thresholds_are_10_23_and_10_25_with_their_rules() -> None:
    assert [(t.exponent, t.flop) for t in pol.THRESHOLDS] == [(23, 1e23), (25, 1e25)]
    assert "Article 51(2)" in pol.THRESHOLDS[1].rule
    assert "Article 52(1)" in pol.THRESHOLDS[1].meaning


@pytest.mark.parametrize(("before", "after", "crossed"), [
    (0.0, 9.9e22, []), (9.9e22, 1e23, [23]), (5e22, 2e25, [23, 25]), (2e23, 9e24, []),
    (9e24, 1.1e25, [25]), (1e25, 2e25, []),
])
def test_crossing(before: float, after: float, crossed: list[int]) -> None:
    assert [t.exponent for t in pol.crossed(before, after)] == crossed


def test_a_projected_crossing_is_seen_before_the_job_runs() -> None:
    # 9.95e24 FLOP so far; a 1024-GPU job for 48 h on H100 at 40 % adds ~7.0e22: over 10^25.
    worst = pol.job_flop(1024 * 48.0, H100, 0.40)
    assert [t.exponent for t in pol.projected(9.95e24, worst)] == [25]
    message = pol.projection_message("frontier-1", pol.THRESHOLDS[1], 9.95e24, worst)
    assert "would reach 1e+25" in message and "Article 52(1)" in message
    assert pol.projected(9.0e24, worst) == []


@given(st.floats(0, 1e26), st.floats(0, 1e26))
def test_crossings_add_up(a: float, b: float) -> None:
    low, high = sorted((a, b))
    mid = (low + high) / 2
    assert pol.crossed(low, high) == pol.crossed(low, mid) + pol.crossed(mid, high)
    assert set(pol.reached(high)) == set(pol.reached(low)) | set(pol.crossed(low, high))


def test_the_partition_adapter_reads_gpu_models_from_the_federation() -> None:
    peak = peak_flops_of(default_catalogue().federation)
    assert peak("local", "gpu") == pytest.approx(H100)  # policy/federation.yaml: an H100
    assert peak("local", "nope") is None
    assert peak_bf16_flops(" A100 ") == 312e12 and peak_bf16_flops("TPU") is None
