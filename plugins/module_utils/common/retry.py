# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retries with exponential backoff, shared by every client in runbook.ops."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import time
from typing import Callable, Tuple, Type, TypeVar

T = TypeVar("T")


def backoff_delays(attempts: int, base: float, cap: float = 30.0) -> list:
    """The sleeps between ``attempts`` tries: base, 2*base, 4*base ... capped at ``cap``."""
    return [min(cap, base * (2 ** i)) for i in range(max(0, attempts - 1))]


def retry_call(
    func: Callable[[], T],
    attempts: int = 1,
    backoff: float = 0.5,
    retry_on: Tuple[Type[BaseException], ...] = (Exception,),
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``func`` up to ``attempts`` times; re-raise the last error when all fail."""
    delays = backoff_delays(attempts, backoff)
    for delay in delays:
        try:
            return func()
        except retry_on:
            sleep(delay)
    return func()
