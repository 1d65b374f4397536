"""module_utils/common/units.py: sizes in messages."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.common.units import human_bytes


@pytest.mark.parametrize("value, text", [
    (None, "n/a"),
    (0, "0 B"),
    (1023, "1023 B"),
    (1536, "1.5 KiB"),
    (5 * 1024 ** 3, "5.0 GiB"),
    (3 * 1024 ** 5, "3072.0 TiB"),
])
def test_human_bytes(value, text):
    assert human_bytes(value) == text


@pytest.mark.parametrize("percent, share", [(0, 0.0), (41.25, 0.4125), (100, 1.0), (12.34, 0.1234), (150.0, 1.5)])
def test_ratio(percent, share):
    from ansible_collections.runbook.ops.plugins.module_utils.common.units import ratio
    assert ratio(percent) == share
