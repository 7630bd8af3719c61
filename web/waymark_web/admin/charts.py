"""Bar charts drawn on the server as SVG, from the figures the statistics API published: a
suppressed count ("<5") or a withheld figure (null) is drawn as a marked empty bar, never
estimated. Geometry only; the template writes the elements, their title and description."""

from dataclasses import dataclass

WIDTH = 640
ROW_HEIGHT = 28
BAR_HEIGHT = 18
LABEL_WIDTH = 220  # the group's name, beside its bar
VALUE_WIDTH = 70  # the figure, after its bar
GAP = 8
MARK_WIDTH = 24  # the empty, dashed bar of a figure not published


@dataclass(frozen=True)
class Bar:
    label: str
    text: str  # the figure as published, or the mark of a suppressed or withheld one
    suppressed: bool
    y: float
    label_x: float
    bar_x: float
    bar_width: float
    value_x: float


@dataclass(frozen=True)
class Chart:
    key: str  # unique on the page: the ids of its title and description
    title: str
    description: str
    bars: list[Bar]
    width: int
    height: int


def bar_chart(
    key: str, title: str, description: str, rows: list[tuple[str, float | None, str]],
    *, right_to_left: bool, maximum: float | None = None,
) -> Chart:
    """`rows`: (label, value or None when not published, text shown for it). Bars grow from
    the start of the line, mirrored for a right-to-left page; each text is anchored at its
    start, which the page's direction (inherited by the SVG) puts on the right side."""
    values = [value for _, value, _ in rows if value is not None]
    scale_top = maximum or max(values, default=0) or 1
    room = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 2 * GAP
    bars = []
    for index, (label, value, text) in enumerate(rows):
        length = MARK_WIDTH if value is None else room * value / scale_top
        if right_to_left:
            label_x, bar_end = WIDTH, WIDTH - LABEL_WIDTH - GAP
            bar_x, value_x = bar_end - length, bar_end - length - GAP
        else:
            label_x, bar_x = 0, LABEL_WIDTH + GAP
            value_x = bar_x + length + GAP
        bars.append(Bar(label, text, value is None, index * ROW_HEIGHT, label_x, bar_x,
                        length, value_x))
    return Chart(key, title, description, bars, WIDTH, max(len(rows), 1) * ROW_HEIGHT)
