# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions of a surge rollout, and the ``--diff`` of any rollout.

In surge mode (``max_surge`` > 0, as a Kubernetes Deployment's ``maxSurge``) the new replicas
of a wave, up to ``max_surge`` of them, are started at once beside the old ones; they pass
their gates together, then join the service's network aliases and the old ones stop (leaving
the aliases as they go). A wave that fails its gates is removed; its old replicas were never
touched. Nothing here talks to Docker.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict, Mapping, Optional, Set, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.docker import rollout_plan

ROLLING = "rolling"
SURGE = "surge"


def choose_mode(max_surge: int, order: str, order_note: str) -> Tuple[str, int, str]:
    """``(mode, wave size or 0, note)``. Surge needs start-first: a container that holds a fixed host
    port or address cannot run twice, so choose_order's fallback to stop-first ends surge too."""
    if not max_surge or max_surge < 1:
        return ROLLING, 0, ""
    if order != rollout_plan.START_FIRST:
        why = order_note or "order is %s" % order
        return ROLLING, 0, "surge is impossible (%s): rolled one batch at a time" % why
    return SURGE, int(max_surge), ""


def wave_size(mode: str, max_surge: int, batch_size: int) -> int:
    """How many containers are replaced at once: ``max_surge`` in surge mode, else ``batch_size``."""
    return int(max_surge) if mode == SURGE else int(batch_size or 1)


def plan_message(entry: Mapping[str, Any], target_ref: str, target_id: str, number: int, plan: Mapping[str, Any]
                 ) -> str:
    """What check mode says a rollout would do to one container."""
    what = "would replace %s (%s) by %s (%s)" % (
        entry["old_image"], rollout_plan.short_id(entry["old_image_id"]), target_ref, rollout_plan.short_id(target_id))
    if plan.get("mode") == SURGE:
        return ("%s in surge wave %d (max_surge %d): started beside the old one, which stops once the wave "
                "passed its gates" % (what, number, plan.get("max_surge") or 0))
    return "%s in batch %d, %s" % (what, number, plan.get("order"))


def option_problem(params: Mapping[str, Any]) -> Optional[str]:
    """What is wrong with ``max_surge`` beyond its declared range, or None."""
    surge = params.get("max_surge")
    if surge and params.get("order") == rollout_plan.STOP_FIRST:
        return "max_surge %s needs order=start-first (surge starts the new replicas beside the old ones)" % surge
    return None


# --------------------------------------------------------------------------- #
# --diff
# --------------------------------------------------------------------------- #

def _line(name: str, ref: str, image_id: str) -> str:
    return "%s: %s (%s)\n" % (name, ref, rollout_plan.short_id(image_id))


def plan_diff(plan: Optional[Mapping[str, Any]], replaced: Optional[Set[str]] = None) -> Optional[Dict[str, str]]:
    """``{"before", "after", ...}`` for Ansible's ``--diff``: one line per replica, its image before and
    after. ``replaced`` names the containers that now run the new image (None: every one the plan
    replaces, as check mode would); a rolled-back rollout passes an empty set. None without a plan."""
    if not plan or not plan.get("containers"):
        return None
    before, after = [], []
    for entry in plan["containers"]:
        before.append(_line(entry["name"], entry["old_image"], entry["old_image_id"]))
        moved = entry.get("action") == "replace" and (replaced is None or entry["name"] in replaced)
        if moved:
            after.append(_line(entry["name"], entry["new_image"], entry["new_image_id"]))
        else:
            after.append(_line(entry["name"], entry["old_image"], entry["old_image_id"]))
    header = "replicas (%s%s)" % (plan.get("mode") or ROLLING,
                                  ", max_surge %s" % plan.get("max_surge") if plan.get("mode") == SURGE else "")
    return {"before": "".join(before), "after": "".join(after),
            "before_header": header, "after_header": header}
