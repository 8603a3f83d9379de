"""What the page filters make of grader-written text: code, cell links, escaping; durations; score badges."""

from __future__ import annotations

from server.dashboard.rendering import duration, message_html, score_band


def test_a_message_gets_code_and_cell_links_and_everything_else_stays_escaped() -> None:
    html = message_html("cell 8 raised `NameError`: name `net` is not defined <script>alert(1)</script>")
    assert str(html) == ('<a href="#cell-8">cell 8</a> raised <code>NameError</code>: name <code>net</code> is not '
                         "defined &lt;script&gt;alert(1)&lt;/script&gt;")
    assert str(message_html('`<img src=x onerror="alert(2)">`')) == (
        "<code>&lt;img src=x onerror=&#34;alert(2)&#34;&gt;</code>")
    assert str(message_html("Cell 0012 and excel 3 and cell 99999")) == (
        '<a href="#cell-12">Cell 12</a> and excel 3 and cell 99999')


def test_durations_read_like_a_person_says_them() -> None:
    assert [duration(s) for s in (None, 0.4, 59, 61, 3598, 3600 + 5 * 60, 49 * 3600, 3 * 86400)] == [
        "-", "0 s", "59 s", "1 min", "1 h", "1 h 5 min", "2 days 1 h", "3 days"]


def test_a_graded_zero_is_never_the_colour_of_full_marks() -> None:
    assert [score_band(s, 100) for s in (100, 99.95, 70, 69, 40, 0, None)] == [
        "full", "full", "high", "mid", "mid", "low", "none"]
