#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: host_check
short_description: Disk, inode, memory and load checks for a host or container
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Reports disk and inode usage per mount (C(os.statvfs), computed like C(df)), memory usage from
    C(MemAvailable) in C(/proc/meminfo), and the load average per CPU from C(/proc/loadavg).
  - "Checks: C(disk.<mount>), C(inodes.<mount>), C(memory), C(load)."
  - Usage at or above a warning threshold is a warning, at or above a critical threshold is critical.
  - A path in O(mounts) that does not exist is a critical check C(disk.<path>) ("not mounted / no such
    path"), not a failure. A path that exists but is not a mount point reports the file system holding it.
  - Uses only the Python standard library, so it runs inside minimal containers (Linux C(/proc) required).
extends_documentation_fragment:
  - runbook.ops.attributes
options:
  resources:
    description:
      - Which resources to check.
    type: list
    elements: str
    choices: [disk, inodes, memory, load]
    default: [disk, inodes, memory, load]
  mounts:
    description:
      - Paths whose file systems are checked.
      - When empty, every real file system in C(/proc/mounts) is checked, except those whose type is in
        O(exclude_fstypes) or whose mount point matches O(exclude_mounts). A block device mounted several
        times (bind mounts) is checked once, at its first mount point.
    type: list
    elements: str
    default: []
  exclude_fstypes:
    description:
      - File system types skipped when O(mounts) is empty. The default lists pseudo and virtual file systems
        (proc, sysfs, tmpfs, devtmpfs, cgroup, squashfs, ...).
    type: list
    elements: str
    default: [autofs, binfmt_misc, bpf, cgroup, cgroup2, configfs, debugfs, devpts, devtmpfs, efivarfs,
              fuse.gvfsd-fuse, fuse.lxcfs, fuse.portal, fusectl, hugetlbfs, mqueue, nsfs, proc, pstore, ramfs,
              rpc_pipefs, securityfs, selinuxfs, squashfs, sysfs, tmpfs, tracefs, nfsd]
  exclude_mounts:
    description:
      - Shell-style patterns of mount points skipped when O(mounts) is empty. The default skips the mounts of
        container runtimes (each container's overlay root, and inside a container the files the runtime binds in)
        and snaps.
    type: list
    elements: str
    default: [/var/lib/docker/*, /run/docker/*, /var/lib/containerd/*, /run/containerd/*, /var/lib/kubelet/*,
              /run/k3s/*, /snap/*, /etc/hosts, /etc/hostname, /etc/resolv.conf]
  disk_warning:
    description:
      - Warning at or above this percentage of disk space used. The seeds alert at 80 to 85%.
    type: float
    default: 80
  disk_critical:
    description:
      - Critical at or above this percentage of disk space used. The seeds page at 90 to 95%.
    type: float
    default: 90
  inodes_warning:
    description:
      - Warning at or above this percentage of inodes used.
    type: float
    default: 80
  inodes_critical:
    description:
      - Critical at or above this percentage of inodes used.
    type: float
    default: 90
  memory_warning:
    description:
      - Warning at or above this percentage of memory used (total minus C(MemAvailable)).
    type: float
    default: 85
  memory_critical:
    description:
      - Critical at or above this percentage of memory used.
    type: float
    default: 95
  load_period:
    description:
      - Which load average (1, 5 or 15 minutes) is compared with the thresholds. All three are returned.
    type: int
    choices: [1, 5, 15]
    default: 5
  load_warning:
    description:
      - Warning at or above this load average per CPU (1.0 means as many runnable tasks as CPUs).
    type: float
    default: 1.5
  load_critical:
    description:
      - Critical at or above this load average per CPU.
    type: float
    default: 2.0
attributes:
  check_mode:
    support: full
    details: Runs the same read-only probes as a normal run; C(changed) is always false.
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [runbook.ops.health]
seealso:
  - module: ansible.builtin.setup
"""

EXAMPLES = r"""
- name: All real file systems, memory and load with the default thresholds
  runbook.ops.host_check:
  register: host

- name: Only the data volumes, tighter disk thresholds (the seeds' 85/95)
  runbook.ops.host_check:
    resources: [disk, inodes]
    mounts: [/, /var/lib/postgresql]
    disk_warning: 85
    disk_critical: 95
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
  sample: warning
severity:
  description: P1 for a critical check, P2 for a warning, P3 when all is ok.
  returned: always
  type: str
  sample: P2
summary:
  description: One line for people naming every failing check.
  returned: always
  type: str
  sample: "host: disk./ disk / at 83.5% (warning >= 80%), 41.2 GiB free of 252.0 GiB"
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
checks:
  description: C(disk.<mount>) and C(inodes.<mount>) per mount, C(memory), C(load).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
      sample: disk./
    status:
      description: C(ok), C(warning) or C(critical).
      type: str
    severity:
      description: P1 to P3.
      type: str
    message:
      description: What was measured and which threshold it crossed.
      type: str
    value:
      description: >-
        For disk checks C(path), C(size_bytes), C(used_bytes), C(free_bytes), C(used_percent), C(inodes_total),
        C(inodes_used), C(inodes_used_percent); for inode checks C(path), C(inodes_total), C(inodes_used),
        C(used_percent); for memory C(total_bytes), C(available_bytes), C(used_percent), C(source) and, with
        swap, C(swap_total_bytes) and C(swap_used_percent); for load C(cpus), C(period_minutes), C(load1),
        C(load5), C(load15) and the same C(_per_cpu).
      type: dict
    threshold:
      description: C(warning) and C(critical).
      type: dict
metrics:
  description: >-
    C(disk_used_ratio{mount="..."}), C(disk_free_bytes{...}), C(disk_size_bytes{...}),
    C(inodes_used_ratio{mount="..."}), C(memory_used_ratio), C(memory_available_bytes), C(memory_total_bytes),
    C(swap_used_ratio) (with swap), C(host_cpus), C(load1), C(load5), C(load15), C(load1_per_cpu),
    C(load5_per_cpu), C(load15_per_cpu).
  returned: always
  type: dict
  sample: {"disk_used_ratio{mount=\"/\"}": 0.412, "memory_used_ratio": 0.125, "load5_per_cpu": 0.4}
changed:
  description: Always false.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.host import argspec, probe_runner


def main() -> None:
    module = arguments.new_module(AnsibleModule, **argspec.host_check_argspec(), supports_check_mode=True)
    probe_runner.run(module)


if __name__ == "__main__":
    main()
