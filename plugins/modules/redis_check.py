#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: redis_check
short_description: Health of a Redis server and the depth of its queues (Celery)
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Connects to Redis (optionally over TLS, with a password or an ACL user), sends C(PING) and reads
    C(INFO), then reports one check per aspect.
  - C(redis.ping) is critical with severity P0 when the server cannot be reached or used at all
    (connection refused, unknown host, timeout, TLS failure, authentication failure); the other checks
    are then not run.
  - C(redis.memory) compares C(used_memory) with C(maxmemory) (or O(memory_limit_bytes) when
    C(maxmemory) is 0); without any limit it only reports the figure (status ok).
  - C(redis.evictions) reports C(evicted_keys) (counted since the server started) and warns above
    O(evicted_keys_warning).
  - C(redis.hit_rate) is C(keyspace_hits) divided by the sum of C(keyspace_hits) and C(keyspace_misses)
    since the server started; below O(hit_rate_warning) is a warning. With fewer than O(hit_rate_min_lookups) lookups
    it is not judged (status ok).
  - C(redis.clients) compares C(connected_clients) with C(maxclients) in percent.
  - C(redis.queue.<name>) per entry of O(queues) is the length of that list (C(LLEN)), for example
    the Celery queue C(celery). A missing key is an empty queue; a key that is not a list is a warning.
  - Only the read-only commands C(AUTH), C(SELECT), C(PING), C(INFO), C(LLEN) and C(CONFIG GET) are
    sent (C(CONFIG GET) only when C(INFO) lacks C(maxmemory) or C(maxclients), and its failure is
    ignored). Uses only the Python standard library.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.redis
options:
  checks:
    description:
      - Which checks to run besides C(redis.ping), which always runs.
    type: list
    elements: str
    choices: [memory, evictions, hit_rate, clients, queues]
    default: [memory, evictions, hit_rate, clients, queues]
  memory_warning:
    description:
      - Warning at this percentage of the memory limit used.
    type: float
    default: 80
  memory_critical:
    description:
      - Critical at this percentage of the memory limit used.
    type: float
    default: 90
  memory_limit_bytes:
    description:
      - Memory limit to compare with when the server's C(maxmemory) is 0 (unlimited), for example
        the container's memory limit. Ignored when C(maxmemory) is set.
    type: int
  evicted_keys_warning:
    description:
      - Warning when C(evicted_keys) is above this number. Not judged when not set.
    type: int
  hit_rate_warning:
    description:
      - Warning when the keyspace hit rate (0 to 1) is below this.
    type: float
    default: 0.7
  hit_rate_critical:
    description:
      - Critical when the keyspace hit rate (0 to 1) is below this. Not judged when not set.
    type: float
  hit_rate_min_lookups:
    description:
      - Fewest lookups (hits plus misses) before the hit rate is judged.
    type: int
    default: 1000
  clients_warning:
    description:
      - Warning at this percentage of C(maxclients) connected.
    type: float
    default: 80
  clients_critical:
    description:
      - Critical at this percentage of C(maxclients) connected.
    type: float
    default: 95
  queues:
    description:
      - Lists whose length to check, such as Celery queues.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Key of the list; also used in C(redis.queue.<name>) and the C(queue) metric label. Required.
        type: str
      warning:
        description:
          - Warning at this many entries or more. Defaults to O(queue_warning).
        type: int
      critical:
        description:
          - Critical at this many entries or more. Defaults to O(queue_critical).
        type: int
  queue_warning:
    description:
      - Default warning length for O(queues).
    type: int
    default: 100
  queue_critical:
    description:
      - Default critical length for O(queues).
    type: int
    default: 1000
attributes:
  check_mode:
    support: full
    details: Sends the same read-only commands as a normal run; C(changed) is always false.
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [runbook.ops.health, runbook.ops.redis]
seealso:
  - module: community.general.redis_data_info
  - module: runbook.ops.postgres_check
"""

EXAMPLES = r"""
- name: Redis health and the Celery queue, as in the daily checklist
  runbook.ops.redis_check:
    login_host: redis.sec-analysis.com
    login_password: "{{ vault_redis_password }}"
    queues:
      - name: celery
        warning: 100
        critical: 1000
  register: redis

- name: Managed Redis over TLS with an ACL user, memory limit from the container
  runbook.ops.redis_check:
    login_host: cache.internal
    port: 6380
    tls: true
    ca_path: /etc/ssl/private-ca.pem
    login_user: monitor
    login_password: "{{ vault_redis_monitor_password }}"
    memory_limit_bytes: 2147483648
    checks: [memory, evictions, hit_rate]
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
  sample: warning
severity:
  description: P0 when Redis is unreachable, P1 for other critical checks, P2 for warnings, P3 when all is ok.
  returned: always
  type: str
  sample: P2
summary:
  description: One line for people naming every failing check.
  returned: always
  type: str
  sample: "redis: redis.queue.celery queue celery at 150 (warning >= 100)"
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
checks:
  description: >-
    C(redis.ping), then as selected by O(checks) C(redis.memory), C(redis.evictions), C(redis.hit_rate),
    C(redis.clients) and C(redis.queue.<name>) per queue.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
      sample: redis.queue.celery
    status:
      description: C(ok), C(warning) or C(critical).
      type: str
    severity:
      description: P0 to P3.
      type: str
    message:
      description: What was found, for example C(connection refused by 127.0.0.1:6379).
      type: str
    value:
      description: >-
        The measured value: ping round trip in seconds, memory and clients in percent, evicted keys,
        hit rate (0 to 1), queue length; C(null) when not measured.
      type: raw
    threshold:
      description: C(warning) and C(critical) limits, when the check has them.
      type: dict
metrics:
  description: >-
    C(redis_up) (1 or 0) always; when reachable C(redis_ping_seconds), C(redis_uptime_seconds),
    C(redis_used_memory_bytes), C(redis_maxmemory_bytes), C(redis_memory_used_ratio) (0 to 1, when there is a limit),
    C(redis_evicted_keys_total), C(redis_keyspace_hits_total), C(redis_keyspace_misses_total) (counters:
    cumulative since the server started),
    C(redis_keyspace_hit_ratio), C(redis_connected_clients), C(redis_blocked_clients), C(redis_maxclients),
    C(redis_db_keys{db="db0"}) and C(redis_queue_length{queue="..."}).
  returned: always
  type: dict
  sample: {"redis_up": 1, "redis_queue_length{queue=\"celery\"}": 150}
changed:
  description: Always false.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.redis import argspec, check_runner


def main() -> None:
    module = arguments.new_module(AnsibleModule, **argspec.redis_check_argspec(), supports_check_mode=True)
    check_runner.run(module)


if __name__ == "__main__":
    main()
