"""Server-side SVG charts: well-formed XML, accessible names, every label and value written,
labels escaped whatever they hold, colours with enough contrast against white."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fabriek.observatory import charts as c

pytestmark = pytest.mark.unit
NS = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _texts(root: ET.Element) -> list[str]:
    """Every piece of text the chart draws or names (labels, values, tooltips)."""
    return ["".join(e.itertext()) for e in root.iter() if e.tag in (f"{NS}text", f"{NS}title")]


def _accessible(root: ET.Element, title: str) -> str:
    """Check role and aria-labelledby; return the description."""
    assert root.tag == f"{NS}svg" and root.get("role") == "img"
    ids = root.get("aria-labelledby", "").split()
    by_id = {e.get("id"): e for e in root.iter() if e.get("id")}
    assert len(ids) == 2 and all(i in by_id for i in ids), ids
    assert by_id[ids[0]].tag == f"{NS}title" and by_id[ids[0]].text == title
    assert by_id[ids[1]].tag == f"{NS}desc"
    return by_id[ids[1]].text or ""


def _luminance(colour: str) -> float:
    def channel(v: int) -> float:
        x = v / 255
        return x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def test_horizontal_bar_chart():
    svg = c.horizontal_bar_chart(
        [c.Bar("Germany", 81000), c.Bar("Netherlands", 22000.5), c.Bar("Spain", None)],
        chart_id="by-country", title="GPU-hours by country", description="Allocated.")
    root = _parse(svg)
    desc = _accessible(root, "GPU-hours by country")
    texts = _texts(root)
    for label, value in (("Germany", "81,000"), ("Netherlands", "22,000"), ("Spain", "–")):
        assert label in texts and value in texts
        assert f"{label}: {value}" in desc  # the values in words, for screen readers
    assert len(root.findall(f"{NS}rect")) == 1 + 2  # background + two bars (Spain: no data)


def test_bars_scale_to_the_largest_value_or_a_fixed_maximum():
    root = _parse(c.horizontal_bar_chart([c.Bar("a", 2), c.Bar("b", 1)], chart_id="x",
                                         title="t", description=""))
    a, b = (float(r.get("width", 0)) for r in root.findall(f"{NS}rect")[1:])
    assert a == pytest.approx(2 * b)
    root = _parse(c.horizontal_bar_chart([c.Bar("a", 0.5)], chart_id="x", title="t",
                                         description="", fmt=c.percent, scale_max=1.0,
                                         width=640))
    assert "50.0 %" in _texts(root)


def test_grouped_bar_chart_writes_every_value_and_a_legend():
    svg = c.grouped_bar_chart(
        ["Start-ups", "Large enterprises"],
        [c.Series("Requested", [62000, 81000]), c.Series("Allocated", [22000, 61000]),
         c.Series("Used", [76.25, 361])],
        chart_id="by-type", title="GPU-hours by organisation type", description="All time.")
    root = _parse(svg)
    desc = _accessible(root, "GPU-hours by organisation type")
    texts = _texts(root)
    for text in ("Start-ups", "Large enterprises", "Requested", "Allocated", "Used", "62,000",
                 "22,000", "76.25", "81,000", "61,000", "361"):
        assert text in texts, text
    assert "Start-ups: Requested 62,000, Allocated 22,000, Used 76.25" in desc


def test_stacked_bar_chart_writes_segments_and_the_total():
    svg = c.grouped_bar_chart(["Allocated"], [c.Series("Start-ups", [22000]),
                                              c.Series("SMEs", [30000]),
                                              c.Series("Others", [61000])],
                              chart_id="share", title="Share", description="", stacked=True)
    texts = _texts(_parse(svg))
    assert {"22,000", "30,000", "61,000", "113,000"} <= set(texts)


def test_a_series_must_have_a_value_per_category():
    with pytest.raises(ValueError, match="has 1 values for 2 categories"):
        c.grouped_bar_chart(["a", "b"], [c.Series("s", [1])], chart_id="x", title="t",
                            description="")


@pytest.mark.parametrize("svg", [
    c.horizontal_bar_chart([], chart_id="e", title="Empty", description=""),
    c.grouped_bar_chart([], [c.Series("s", [])], chart_id="e", title="Empty", description=""),
    c.grouped_bar_chart([], [], chart_id="e", title="Empty", description="", stacked=True),
])
def test_charts_without_data_say_so(svg):
    root = _parse(svg)
    _accessible(root, "Empty")
    assert "No data yet." in _texts(root)


def test_labels_are_escaped_not_markup():
    evil = '<script>alert("x")</script> & \'quotes\' ]]> \x00\x1b'
    svg = c.horizontal_bar_chart([c.Bar(evil, 1)], chart_id='x" onload="alert(1)',
                                 title=evil, description=evil)
    root = _parse(svg)
    assert not [e for e in root.iter() if e.tag.endswith("script")]
    assert all(not k.startswith("on") for e in root.iter() for k in e.attrib)
    assert root.get("id") == "x--onload--alert-1-"
    assert '<script>alert("x")</script> & \'quotes\' ]]> ' in _texts(root)


@given(st.lists(st.tuples(st.text(max_size=60), st.floats(0, 1e9)), max_size=8),
       st.text(max_size=80))
def test_any_labels_give_well_formed_xml_that_names_them(bars, title):
    svg = c.horizontal_bar_chart([c.Bar(label, value) for label, value in bars],
                                 chart_id="p", title=title, description=title)
    root = _parse(svg)
    texts = _texts(root)
    for label, _ in bars:
        assert c.clean(label) in texts


def test_the_palette_has_contrast_against_white():
    for colour in (*c.PALETTE, c.TEXT, c.MUTED):
        ratio = 1.05 / (_luminance(colour) + 0.05)
        assert ratio >= 4.5, (colour, ratio)  # 3:1 is required of graphics; white text too


def test_number_formats():
    assert [c.number(v) for v in (0, 0.5, 1.25, 99.999, 100, 1234567.8)] == [
        "0", "0.5", "1.25", "100", "100", "1,234,568"]
    assert c.percent(0.0625) == "6.2 %" and c.hours(43) == "43 h"
    assert c.safe_id("9 lives") == "c-9-lives" and c.safe_id("") == "chart"
