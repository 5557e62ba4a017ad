"""What the simulator relies on in `placement.rank_sites`, and its (faster) output form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fabriek.federation.placement import Demand, SiteChoice, SiteState, rank_sites

pytestmark = pytest.mark.unit


def test_rank_sites_orders_by_wait_then_free_gpus_then_given_order_with_reasons():
    d = Demand(gpus=4, nodes=1, priority_rank=500)
    sites = [SiteState(("b", "p"), 16, 8, 8), SiteState(("a", "p"), 16, 8, 8),
             SiteState(("c", "p"), 16, 8, 12), SiteState(("d", "p"), 16, 8, 0, drain_hours=2.0),
             SiteState(("e", "p"), 16, 8, 0), SiteState(("f", "p"), 2, 2, 2)]
    ranked = rank_sites(d, sites)
    assert ranked == [SiteChoice(("c", "p"), 0.0, "starts now"),
                      SiteChoice(("b", "p"), 0.0, "starts now"),  # listed before a
                      SiteChoice(("a", "p"), 0.0, "starts now"),
                      SiteChoice(("e", "p"), 1.0, "starts in about 1.0 h"),
                      SiteChoice(("d", "p"), 2.0, "starts in about 2.0 h")]
    assert ranked[0].key == ("c", "p") and ranked[3].reason == "starts in about 1.0 h"
    with pytest.raises(AttributeError):
        ranked[0].reason = "changed"  # type: ignore[misc]


_site = st.builds(lambda k, per, nodes, used, drain: SiteState(
    (f"f{k}", "p"), per * nodes, per, max(per * nodes - used, 0), drain_hours=drain),
    st.integers(0, 5), st.sampled_from([4, 8]), st.integers(1, 4), st.integers(0, 32),
    # No zero drain: start_estimate reads a drain of 0 h as "starts now" even on a full site.
    st.one_of(st.none(), st.floats(0.01, 10)))


@given(st.lists(_site, min_size=1, max_size=6, unique_by=lambda s: s.key),
       st.integers(1, 16), st.integers(1, 4))
def test_first_choice_over_the_open_sites_equals_the_first_choice_over_all(sites, gpus, nodes):
    """The simulator hands rank_sites only the sites with enough free GPUs."""
    d = Demand(gpus=gpus, nodes=min(nodes, gpus), priority_rank=500)
    every = rank_sites(d, sites)
    open_now = rank_sites(d, [s for s in sites if s.free_gpus >= gpus])
    if every and every[0].start_in_hours == 0:
        assert open_now[0] == every[0]
    else:
        assert open_now == []
