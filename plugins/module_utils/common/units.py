# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Units: the one byte-size formatter of every check's message, and the share a metric carries as a ratio
(Prometheus's base unit for a share: 0 to 1; thresholds and check values stay in percent)."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Optional


def human_bytes(value: Optional[float]) -> str:
    """``1536`` -> ``1.5 KiB``; ``None`` -> ``n/a``."""
    if value is None:
        return "n/a"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(amount) < 1024 or unit == "TiB":
            return ("%d B" % amount) if unit == "B" else ("%.1f %s" % (amount, unit))
        amount /= 1024.0
    return "%.1f TiB" % amount  # pragma: no cover


def ratio(percent: float) -> float:
    """A share given in percent (``41.25``) as the ratio a metric carries (``0.4125``)."""
    return round(float(percent) / 100.0, 6)
