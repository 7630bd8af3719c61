"""The statistics' bar charts: bars in proportion to the published figures, a suppressed or
withheld figure drawn as the same small empty mark whatever lies behind it, mirrored for a
right-to-left page."""

from waymark_web.admin.charts import GAP, MARK_WIDTH, VALUE_WIDTH, WIDTH, bar_chart

ROWS = [("Nepal to Jordan", 40.0, "40"), ("Nepal to Lebanon", 20.0, "20"),
        ("Benin to Morocco", None, "<5")]


def test_bars_follow_the_published_figures_and_a_suppressed_one_is_an_empty_mark() -> None:
    chart = bar_chart("count", "Referrals", "…", ROWS, right_to_left=False)
    jordan, lebanon, morocco = chart.bars
    assert jordan.bar_width == WIDTH - VALUE_WIDTH - GAP and lebanon.bar_width == jordan.bar_width / 2
    assert (morocco.suppressed, morocco.bar_width, morocco.text) == (True, MARK_WIDTH, "<5")
    assert jordan.bar_x == lebanon.bar_x == morocco.bar_x == 0
    assert jordan.label_y < jordan.bar_y < lebanon.label_y < morocco.label_y
    assert chart.height > morocco.bar_y + chart.bar_height


def test_a_share_is_drawn_against_one_hundred_and_a_right_to_left_chart_is_mirrored() -> None:
    shares = bar_chart("in-time", "Answered in time", "…", [("Nepal to Jordan", 50.0, "50 %")],
                       right_to_left=True, maximum=100)
    [bar] = shares.bars
    assert bar.bar_width == (WIDTH - VALUE_WIDTH - GAP) / 2
    assert bar.bar_x + bar.bar_width == WIDTH and bar.label_x == WIDTH
    assert bar.value_x == bar.bar_x - GAP
