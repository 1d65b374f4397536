# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bloat estimates from catalog statistics (pure: rows in, ratios out).

Shared by the maintenance planner (VACUUM FULL, REINDEX by bloat) and the
diagnostics (``postgres.table_bloat``, ``postgres.index_bloat``). Both are the
well-known approximations from pg_class and pg_stats, NOT exact measures
(pgstattuple is exact, but it scans the relation).
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import math
from typing import Any, Dict, Mapping, Optional, Sequence


def parse_reloptions(reloptions: Optional[Sequence[str]]) -> Dict[str, str]:
    """``['fillfactor=70', 'autovacuum_enabled=false']`` -> dict."""
    out = {}
    for item in reloptions or []:
        key, sep, value = str(item).partition("=")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


def float_option(options: Mapping[str, str], key: str, default: float) -> float:
    """``options[key]`` as a float; ``default`` when missing or not a number."""
    try:
        return float(options[key])
    except (KeyError, ValueError):
        return float(default)


def _align(value: float, alignment: int) -> float:
    return math.ceil(value / alignment) * alignment


def estimate_table_bloat(row: Mapping[str, Any], block_size: int = 8192) -> Optional[float]:
    """Approximate share (0..1) of the table's main fork that holds no live row.

    Live rows x (23-byte header aligned + 4-byte item pointer + sum of pg_stats avg_width),
    divided by fillfactor, against pg_relation_size. None without statistics.
    """
    table_bytes = float(row.get("table_bytes") or 0)
    width = row.get("row_width")
    if table_bytes <= 0 or width is None:
        return None
    live = row.get("n_live_tup")
    if live is None:
        live = max(0.0, float(row.get("reltuples") or 0))
    fillfactor = float_option(parse_reloptions(row.get("reloptions")), "fillfactor", 100) / 100.0
    per_row = _align(23 + 1, 8) + 4 + _align(float(width), 8)
    usable = (block_size - 24) * fillfactor
    rows_per_page = max(1.0, math.floor(usable / per_row))
    expected = math.ceil(float(live) / rows_per_page) * block_size
    return max(0.0, 1.0 - expected / table_bytes)


def estimate_btree_bloat(row: Mapping[str, Any], block_size: int = 8192) -> Optional[float]:
    """Approximate btree bloat (0..1): the well-known estimate, NOT an exact measure.

    Expected leaf pages = 1 (metapage) + rows / tuples per page, where a tuple takes a
    4-byte item pointer plus an 8-byte index tuple header (+4 when a key column has
    nulls, both maxaligned) plus the average key width from pg_stats, and a page keeps
    24 bytes of header and 16 of btree special space, filled to the index fillfactor
    (90 by default). None when statistics are missing.
    """
    pages = float(row.get("index_bytes") or 0) / block_size
    width = row.get("key_width")
    if pages <= 0 or width is None:
        return None
    if row.get("is_partial") and row.get("index_reltuples") is not None:
        tuples = max(0.0, float(row["index_reltuples"]))
    else:
        tuples = max(0.0, float(row.get("table_reltuples") or 0))
    fillfactor = float_option(parse_reloptions(row.get("reloptions")), "fillfactor", 90) / 100.0
    header = 8 + (4 if float(row.get("max_null_frac") or 0) > 0 else 0)
    tuple_bytes = 4 + _align(header, 8) + _align(float(width), 8)
    per_page = max(1.0, math.floor((block_size - 24 - 16) * fillfactor / tuple_bytes))
    expected = 1 + math.ceil(tuples / per_page)
    if pages <= expected:
        return 0.0
    return (pages - expected) / pages
