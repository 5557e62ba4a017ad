"""Server-side SVG charts: no JavaScript, readable by screen readers, pure (strings in, a string
out), so a page can inline them and the API can serve them as images.

Accessibility: `<svg role="img" aria-labelledby="ID-title ID-desc">` with a `<title>` and a
`<desc>` that carries every value in words; every bar has its value written beside it and a
`<title>` of its own (a tooltip); the colours all have at least 4.5:1 contrast against white
(WCAG 2.1 asks 3:1 for graphics; 4.5:1 lets white text sit on a stacked segment). The page is
expected to offer the same figures as a data table too. Every label is escaped (and characters
XML 1.0 forbids are dropped), so an organisation or model name cannot inject markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

PALETTE = ("#1f5fa8", "#a34400", "#00695c", "#ad1457", "#6a3d9a", "#2e7d32")
TEXT = "#1a1a1a"
MUTED = "#595959"
FONT_SIZE = 13
CHAR_WIDTH = 7.8  # a wide-ish glyph at 13 px in a sans-serif face: used to reserve room
ROW_GAP = 10
BAR = 18
NO_DATA = "–"

_XML_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BREAKS = re.compile("[\t\n\r]")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def clean(text: object) -> str:
    """The text as it will read: characters XML 1.0 forbids dropped, line breaks and tabs as
    spaces (a parser would turn a carriage return into a line feed anyway)."""
    return _BREAKS.sub(" ", _XML_INVALID.sub("", str(text)))


def esc(text: object) -> str:
    """Text for an XML element or a double- or single-quoted attribute."""
    return escape(clean(text), {'"': "&quot;", "'": "&apos;"})


def safe_id(value: str) -> str:
    """An XML id from any string: unsafe characters become '-', never a leading digit."""
    cleaned = _ID_UNSAFE.sub("-", value) or "chart"
    return cleaned if cleaned[0].isalpha() else f"c-{cleaned}"


def number(value: float) -> str:
    """1,234 for large values, up to two decimals for small ones."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".") or "0"


def percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def hours(value: float) -> str:
    return f"{number(value)} h"


Format = Callable[[float], str]


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: no data (drawn as a dash, no bar)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per category


def _shown(value: float | None, fmt: Format) -> str:
    return NO_DATA if value is None else fmt(value)


def _fit(label: str, room: float) -> str:
    """The label, cut with an ellipsis if it would not fit in `room` pixels."""
    most = max(int(room / CHAR_WIDTH), 4)
    return label if len(label) <= most else label[: most - 1] + "…"


@dataclass(frozen=True)
class _Frame:
    """Where things go: labels on the left, bars in the middle, values on the right."""

    width: int
    label_width: float
    value_width: float
    top: float

    @property
    def plot_x(self) -> float:
        return self.label_width

    @property
    def plot_width(self) -> float:
        return max(self.width - self.label_width - self.value_width, 40.0)


def _frame(width: int, labels: Sequence[str], values: Sequence[str], top: float) -> _Frame:
    longest = max((len(x) for x in labels), default=0)
    label_width = min(longest * CHAR_WIDTH + 16, width * 0.4)
    value_width = max((len(x) for x in values), default=1) * CHAR_WIDTH + 16
    return _Frame(width, label_width, value_width, top)


def _svg(chart_id: str, title: str, description: str, width: int, height: float,
         body: Sequence[str]) -> str:
    cid = safe_id(chart_id)
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{cid}" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" viewBox="0 0 {width} {height:.0f}" '
        f'width="{width}" height="{height:.0f}" font-family="system-ui, sans-serif" '
        f'font-size="{FONT_SIZE}">',
        f'<title id="{cid}-title">{esc(title)}</title>',
        f'<desc id="{cid}-desc">{esc(description)}</desc>',
        f'<rect width="{width}" height="{height:.0f}" fill="#ffffff"/>',
        f'<text x="0" y="18" font-size="15" font-weight="bold" fill="{TEXT}">'
        f"{esc(title)}</text>",
        *body,
        "</svg>",
    ])


def _label(frame: _Frame, y: float, label: str) -> str:
    return (f'<text x="{frame.plot_x - 8:.1f}" y="{y:.1f}" text-anchor="end" '
            f'dominant-baseline="middle" fill="{TEXT}"><title>{esc(label)}</title>'
            f"{esc(_fit(label, frame.label_width - 12))}</text>")


def _bar(frame: _Frame, y: float, height: float, length: float, colour: str, tip: str,
         offset: float = 0.0) -> str:
    return (f'<rect x="{frame.plot_x + offset:.1f}" y="{y:.1f}" width="{max(length, 0):.1f}" '
            f'height="{height:.1f}" fill="{colour}"><title>{esc(tip)}</title></rect>')


def _value(frame: _Frame, x: float, y: float, text: str) -> str:
    return (f'<text x="{x + 6:.1f}" y="{y:.1f}" dominant-baseline="middle" fill="{TEXT}">'
            f"{esc(text)}</text>")


def _axis(frame: _Frame, top: float, bottom: float) -> str:
    return (f'<line x1="{frame.plot_x:.1f}" y1="{top:.1f}" x2="{frame.plot_x:.1f}" '
            f'y2="{bottom:.1f}" stroke="{MUTED}" stroke-width="1"/>')


def _empty(parts: list[str], y: float) -> None:
    parts.append(f'<text x="0" y="{y:.1f}" fill="{MUTED}">No data yet.</text>')


def _legend(parts: list[str], names: Sequence[str], y: float, width: int) -> float:
    """Swatches with the series' names, wrapping; returns the y below the legend."""
    x = 0.0
    for i, name in enumerate(names):
        room = 18 + len(name) * CHAR_WIDTH + 16
        if x > 0 and x + room > width:
            x, y = 0.0, y + 20
        parts.append(f'<rect x="{x:.1f}" y="{y - 6:.1f}" width="12" height="12" '
                     f'fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 18:.1f}" y="{y:.1f}" dominant-baseline="middle" '
                     f'fill="{TEXT}">{esc(name)}</text>')
        x += room
    return y + 20


def horizontal_bar_chart(bars: Sequence[Bar], *, chart_id: str, title: str, description: str,
                         fmt: Format = number, width: int = 640, colour: str = PALETTE[0],
                         scale_max: float | None = None) -> str:
    """One bar per label, its value written after it. `scale_max` fixes the full-width value
    (e.g. 1 for shares); otherwise the largest value fills the plot."""
    shown = [_shown(b.value, fmt) for b in bars]
    summary = "; ".join(f"{b.label}: {s}" for b, s in zip(bars, shown, strict=True))
    top = 36.0
    height = top + max(len(bars), 1) * (BAR + ROW_GAP) + 8
    parts: list[str] = []
    if not bars:
        _empty(parts, top + BAR)
        return _svg(chart_id, title, f"{description} {summary}".strip(), width, height, parts)
    frame = _frame(width, [b.label for b in bars], shown, top)
    biggest = scale_max or max((b.value or 0.0 for b in bars), default=0.0) or 1.0
    for i, (b, text) in enumerate(zip(bars, shown, strict=True)):
        y = top + i * (BAR + ROW_GAP)
        length = frame.plot_width * min(max(b.value or 0.0, 0.0) / biggest, 1.0)
        parts.append(_label(frame, y + BAR / 2, b.label))
        if b.value is not None:
            parts.append(_bar(frame, y, BAR, length, colour, f"{b.label}: {text}"))
        parts.append(_value(frame, frame.plot_x + length, y + BAR / 2, text))
    parts.append(_axis(frame, top - 4, height - 8))
    return _svg(chart_id, title, f"{description} {summary}".strip(), width, height, parts)


def grouped_bar_chart(categories: Sequence[str], series: Sequence[Series], *, chart_id: str,
                      title: str, description: str, fmt: Format = number, width: int = 640,
                      stacked: bool = False) -> str:
    """Per category, one bar per series side by side (values written after each), or with
    `stacked` the series end to end in one bar (the total written after it, each segment's
    value inside it when it fits)."""
    for s in series:
        if len(s.values) != len(categories):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for "
                             f"{len(categories)} categories")
    summary = "; ".join(
        f"{c}: " + ", ".join(f"{s.name} {_shown(s.values[i], fmt)}" for s in series)
        for i, c in enumerate(categories))
    parts: list[str] = []
    y = _legend(parts, [s.name for s in series], 40.0, width) + 4
    if not categories or not series:
        _empty(parts, y + BAR)
        y += BAR + 16
    elif stacked:
        y = _stacked(parts, categories, series, fmt, width, y)
    else:
        y = _grouped(parts, categories, series, fmt, width, y)
    return _svg(chart_id, title, f"{description} {summary}".strip(), width, y, parts)


def _grouped(parts: list[str], categories: Sequence[str], series: Sequence[Series],
             fmt: Format, width: int, top: float) -> float:
    bar = 14.0
    shown = [[_shown(v, fmt) for v in s.values] for s in series]
    frame = _frame(width, categories, [t for row in shown for t in row], top)
    biggest = max((v or 0.0 for s in series for v in s.values), default=0.0) or 1.0
    block = len(series) * (bar + 2) + ROW_GAP + 4
    for i, category in enumerate(categories):
        y0 = top + i * block
        parts.append(_label(frame, y0 + len(series) * (bar + 2) / 2, category))
        for k, s in enumerate(series):
            y = y0 + k * (bar + 2)
            value = s.values[i]
            length = frame.plot_width * max(value or 0.0, 0.0) / biggest
            if value is not None:
                parts.append(_bar(frame, y, bar, length, PALETTE[k % len(PALETTE)],
                                  f"{category}, {s.name}: {shown[k][i]}"))
            parts.append(_value(frame, frame.plot_x + length, y + bar / 2, shown[k][i]))
    bottom = top + len(categories) * block
    parts.append(_axis(frame, top - 4, bottom - ROW_GAP))
    return bottom + 4


def _stacked(parts: list[str], categories: Sequence[str], series: Sequence[Series],
             fmt: Format, width: int, top: float) -> float:
    totals = [sum(max(s.values[i] or 0.0, 0.0) for s in series) for i in range(len(categories))]
    frame = _frame(width, categories, [fmt(t) for t in totals], top)
    biggest = max(totals, default=0.0) or 1.0
    for i, category in enumerate(categories):
        y = top + i * (BAR + ROW_GAP)
        parts.append(_label(frame, y + BAR / 2, category))
        x = 0.0
        for k, s in enumerate(series):
            value = max(s.values[i] or 0.0, 0.0)
            length = frame.plot_width * value / biggest
            text = fmt(value)
            parts.append(_bar(frame, y, BAR, length, PALETTE[k % len(PALETTE)],
                              f"{category}, {s.name}: {text}", offset=x))
            if length >= len(text) * CHAR_WIDTH + 8:
                parts.append(f'<text x="{frame.plot_x + x + length / 2:.1f}" '
                             f'y="{y + BAR / 2:.1f}" text-anchor="middle" '
                             f'dominant-baseline="middle" fill="#ffffff">{esc(text)}</text>')
            x += length
        parts.append(_value(frame, frame.plot_x + x, y + BAR / 2, fmt(totals[i])))
    bottom = top + len(categories) * (BAR + ROW_GAP)
    parts.append(_axis(frame, top - 4, bottom - ROW_GAP))
    return bottom + 4
