import threading
import time

import pytest

from data.threads import ordered_map


def test_results_come_in_input_order_even_when_later_items_finish_first():
    def slow_for_small(n):
        time.sleep(0.02 * (5 - n))
        return n * n

    assert list(ordered_map(slow_for_small, range(5), threads=3)) == [0, 1, 4, 9, 16]


def test_work_runs_on_other_threads_and_inline_with_zero_threads():
    caller = threading.get_ident()
    assert set(ordered_map(lambda _: threading.get_ident(), range(4), threads=2)) & {caller} == set()
    assert set(ordered_map(lambda _: threading.get_ident(), range(4), threads=0)) == {caller}


def test_no_more_than_twice_the_threads_are_computed_ahead_of_the_caller():
    started = []
    results = ordered_map(started.append, range(100), threads=2)
    next(results)
    time.sleep(0.1)
    assert len(started) <= 2 * 2 + 1


def test_an_exception_reaches_the_caller_at_its_item():
    def fail_on_two(n):
        if n == 2:
            raise ValueError("two")
        return n

    results = ordered_map(fail_on_two, range(4), threads=2)
    assert [next(results), next(results)] == [0, 1]
    with pytest.raises(ValueError, match="two"):
        next(results)
