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
