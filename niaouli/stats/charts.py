"""Line charts as inline SVG, drawn on the server: no script, no CDN.

The SVG is an image with a `<title>` and a `<desc>` (role="img", aria-labelledby); the
page also gives the same numbers as a table, the accessible alternative. Colours are
presentation attributes, so the pages' strict CSP (no inline style) allows them. Texts
come translated from the caller; the axis numbers follow the request's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from babel.numbers import format_decimal
from markupsafe import Markup, escape

from niaouli.i18n import babel_locale

WIDTH, HEIGHT = 720, 260
# A phone shows the chart about 360 px wide: drawn for that width, its 12-unit texts stay
# 12 px on screen instead of shrinking to 6 (the page shows one or the other, stats.css).
NARROW_WIDTH = 360
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 34
COLOURS = ("#1b6b4f", "#b3541e", "#2d5fa8", "#7a3f99", "#6b6b00")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2")


@dataclass(frozen=True)
class Line:
    label: str
    values: Sequence[int]


def _nice_max(value: int) -> int:
    """A round top for the y axis (1, 2, 5 x 10^n) at or above `value`."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def line_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    lines: Sequence[Line],
    width: int = WIDTH,
    css_class: str = "chart",
) -> Markup:
    """An accessible SVG line chart (one polyline per line, shared x labels).

    `width` is the viewBox width: the texts keep 12 units, so a chart drawn for the width
    it is shown at keeps readable labels.
    """
    count = max(len(labels), 1)
    top = _nice_max(max((max(line.values, default=0) for line in lines), default=0))
    plot_w, plot_h = width - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(index: int) -> float:
        return LEFT + (plot_w * index / (count - 1) if count > 1 else plot_w / 2)

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    parts = [
        f'<svg class="{escape(css_class)}" id="{escape(chart_id)}" '
        f'viewBox="0 0 {width} {HEIGHT}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-d">{escape(description)}</desc>',
    ]
    # 0, the middle and the top, once each (with a top of 1 the middle rounds to 0)
    for value in sorted({0, round(top / 2), top}):
        ty = y(value)
        parts.append(
            f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{width - RIGHT}" y2="{ty:.1f}" '
            'stroke="#d0d7d3" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="#333">{escape(format_decimal(value, locale=babel_locale()))}</text>'
        )
    # first and last labels aligned on the ends of the axis, so none runs past the edge
    for index in sorted({0, (count - 1) // 2, count - 1}):
        if index < len(labels):
            anchor = "start" if index == 0 and count > 1 else "middle"
            if index == count - 1 and count > 1:
                anchor = "end"
            parts.append(
                f'<text x="{x(index):.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}" '
                f'font-size="12" fill="#333">{escape(labels[index])}</text>'
            )
    for number, line in enumerate(lines):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(line.values))
        dash = DASHES[number % len(DASHES)]
        parts.append(
            f'<polyline fill="none" stroke="{COLOURS[number % len(COLOURS)]}" '
            f'stroke-width="2"{f" stroke-dasharray={chr(34)}{dash}{chr(34)}" if dash else ""} '
            f'points="{points}"><title>{escape(line.label)}</title></polyline>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()


def legend(lines: Sequence[Line]) -> list[tuple[str, str, str]]:
    """(label, colour, dash pattern) for an HTML legend next to the chart."""
    return [
        (line.label, COLOURS[i % len(COLOURS)], DASHES[i % len(DASHES)])
        for i, line in enumerate(lines)
    ]
