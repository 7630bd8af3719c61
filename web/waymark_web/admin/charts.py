"""Bar charts drawn on the server as SVG, from the figures the statistics API published: a
suppressed count ("<5") or a withheld figure (null) is drawn as a marked empty bar, never
estimated. Geometry only; the template writes the elements, their title and description."""

from dataclasses import dataclass

WIDTH = 360  # about a phone's width, so that its text is read at its own size there
ROW_HEIGHT = 44  # a group: its name on one line, its bar under it
LABEL_BASELINE = 15
BAR_TOP = 21
BAR_HEIGHT = 16
VALUE_WIDTH = 64  # the figure, after its bar
GAP = 6
MARK_WIDTH = 24  # the empty, dashed bar of a figure not published


@dataclass(frozen=True)
class Bar:
    label: str
    text: str  # the figure as published, or the mark of a suppressed or withheld one
    suppressed: bool
    label_y: float
    label_x: float
    bar_y: float
    bar_x: float
    bar_width: float
    value_x: float
    value_y: float


@dataclass(frozen=True)
class Chart:
    key: str  # unique on the page: the ids of its title and description
    title: str
    description: str
    bars: list[Bar]
    width: int
    height: int
    bar_height: int = BAR_HEIGHT


def bar_chart(
    key: str, title: str, description: str, rows: list[tuple[str, float | None, str]],
    *, right_to_left: bool, maximum: float | None = None,
) -> Chart:
    """`rows`: (label, value or None when not published, text shown for it). Bars grow from
    the start of the line, mirrored for a right-to-left page; each text is anchored at its
    start, which the page's direction (inherited by the SVG) puts on the right side."""
    values = [value for _, value, _ in rows if value is not None]
    scale_top = maximum or max(values, default=0) or 1
    room = WIDTH - VALUE_WIDTH - GAP
    bars = []
    for index, (label, value, text) in enumerate(rows):
        length = MARK_WIDTH if value is None else room * value / scale_top
        top = index * ROW_HEIGHT
        if right_to_left:
            label_x, bar_x, value_x = WIDTH, WIDTH - length, WIDTH - length - GAP
        else:
            label_x, bar_x, value_x = 0, 0, length + GAP
        bars.append(Bar(label, text, value is None, top + LABEL_BASELINE, label_x, top + BAR_TOP,
                        bar_x, length, value_x, top + BAR_TOP + BAR_HEIGHT - 3))
    return Chart(key, title, description, bars, WIDTH, max(len(rows), 1) * ROW_HEIGHT)
