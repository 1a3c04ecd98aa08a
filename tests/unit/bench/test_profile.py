"""The profile helper's summary of py-spy's collapsed stacks."""

from __future__ import annotations

import pytest

from bench.profile import report, top

COLLAPSED = """\
main (app.py:1);handle (app.py:10);log (logs.py:20) 30
main (app.py:1);handle (app.py:12);log (logs.py:21) 10
main (app.py:1);handle (app.py:11) 60
not a line
"""


def test_top_frames_by_own_samples_and_by_time_on_the_stack_line_numbers_merged() -> None:
    own, anywhere = top(COLLAPSED.splitlines(), n=2)

    assert own == [("handle (app.py)", pytest.approx(0.6)), ("log (logs.py)", pytest.approx(0.4))]
    assert dict(anywhere) == {"main (app.py)": pytest.approx(1.0), "handle (app.py)": pytest.approx(1.0)}


def test_the_report_names_the_process_and_gives_shares() -> None:
    text = report("inventory", COLLAPSED.splitlines())

    assert text.startswith("## inventory")
    assert " 60.0%  handle (app.py)" in text
    assert top([]) == ([], [])
