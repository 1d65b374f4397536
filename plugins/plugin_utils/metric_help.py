# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each metric of the modules means: the HELP line of its family in the Prometheus textfile.

Names follow Prometheus's conventions, which :func:`metric_type` reads back: a cumulative value
(it only grows since the server, the container or the statistics started) is a counter whose name
ends in ``_total``; a level is a gauge and its name does not end in ``_total``. Units are base
units spelt out at the end of the name (``_seconds``, ``_bytes``, ``_timestamp_seconds`` for Unix
times); a share is a ``_ratio`` from 0 to 1, never a percentage (thresholds and check values stay
in percent, metrics do not). A name never ends in ``_percent``, ``_count``,
``_sum`` or ``_bucket`` (histograms and summaries own those).

The keys are the names the modules put in their ``metrics`` (without the ``runbook_ops_`` prefix
the textfile adds). A metric missing here still gets a generic HELP line; docs/reports.md lists
the same metrics.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Dict

METRIC_HELP: Dict[str, str] = {
    # backups (pg_backup, file_archive, backup_verify, pg_restore, backup_retention, s3_backup)
    "backup_age_seconds": "Age of the newest complete backup per database and kind, in seconds.",
    "backup_verified": "1 when the newest backup's checksums verified, 0 when not.",
    "backup_size_bytes": "Size of the backup, in bytes.",
    "backup_duration_seconds": "Time the backup took, in seconds.",
    "backup_files": "Number of files in the file archive.",
    "backup_restore_seconds": "Time the (test) restore took, in seconds.",
    "backup_retention_kept": "Backups kept by the retention rules in this run, per kind.",
    "backup_retention_deleted": "Backups deleted (or, in check mode, to delete) by the retention rules in this run, per kind.",
    "s3_transfer_bytes": "Bytes transferred to or from S3 in this run, per mode.",
    "s3_transfer_seconds": "Time of the S3 transfer in this run, in seconds, per mode.",
    # containers and rollouts (container_check, docker_rollout, k8s_rollout)
    "docker_up": "1 when the Docker engine answered, 0 when not.",
    "container_up": "1 when the container is running, 0 when not.",
    "container_healthy": "1 when the container's HEALTHCHECK reports healthy, 0 when not.",
    "container_restarts_total": "Restarts of the container since it was created (Docker's restart count).",
    "container_log_errors": "Error lines in the container's recent log.",
    "rollout_duration_seconds": "Time the rolling deploy took, in seconds.",
    "rollout_gate_seconds": "Time the new container took to pass its gate, in seconds.",
    "rollout_replaced": "Containers replaced by the rolling deploy in this run.",
    "rollout_rolled_back": "1 when the rolling deploy was rolled back, 0 when not.",
    "k8s_rollout_duration_seconds": "Time the Deployment rollout took, in seconds.",
    "k8s_rollout_wait_seconds": "Time spent waiting for the Deployment to become available, in seconds.",
    "k8s_rollout_gate_seconds": "Time the Deployment took to pass its gate, in seconds.",
    "k8s_rollout_rolled_back": "1 when the Deployment was rolled back, 0 when not.",
    "k8s_rollout_revision": "Revision of the Deployment after the rollout.",
    "k8s_rollout_available_replicas": "Available replicas of the Deployment after the rollout.",
    # the Kubernetes health check (k8s_check)
    "k8s_up": "1 when the Kubernetes API server answered, 0 when not.",
    "k8s_nodes": "Nodes of the cluster.",
    "k8s_nodes_ready": "Nodes whose Ready condition is True.",
    "k8s_workload_desired_replicas": "Desired replicas of the Deployment or StatefulSet.",
    "k8s_workload_available_replicas": "Available (StatefulSet: ready) replicas of the Deployment or StatefulSet.",
    "k8s_pods": "Pods of the namespace that have not finished.",
    "k8s_pods_unhealthy": "Pods of the namespace with a problem, per problem (crashloop, image, pending, not_ready, restarts).",
    "k8s_warning_events": "Warning events of the namespace in the check's window, repeats counted, per reason (all: every reason).",
    "k8s_certificate_expiry_seconds": "Seconds until the cert-manager Certificate's notAfter (negative once expired).",
    "k8s_secret_rotated_keys": "Keys of the Secret whose value the rotation changed.",
    "k8s_secret_restarted_workloads": "Workloads restarted with the Secret's new values.",
    "k8s_secret_rolled_back": "1 when a failed restart rolled the Secret back, 0 when not.",
    "k8s_pvcs_unbound": "PersistentVolumeClaims of the namespace that are not Bound.",
    # HTTP and TLS (http_check, tls_check)
    "http_up": "1 when the endpoint answered as expected, 0 when not.",
    "http_latency_seconds": "Response time of the endpoint, in seconds.",
    "http_status_code": "HTTP status code of the endpoint's response (0 without a response).",
    "tls_up": "1 when the TLS endpoint could be reached, 0 when not.",
    "tls_cert_verified": "1 when the certificate verifies for the endpoint's name, 0 when not.",
    "tls_cert_expiry_seconds": "Seconds until the certificate expires (negative once expired).",
    "tls_cert_not_after_timestamp_seconds": "Unix time at which the certificate expires.",
    # the host (host_check, log_check)
    "disk_used_ratio": "Share of the mount's disk space used, 0 to 1 (as df computes it).",
    "disk_free_bytes": "Disk space available on the mount, in bytes.",
    "disk_size_bytes": "Size of the mount's file system, in bytes.",
    "inodes_used_ratio": "Share of the mount's inodes used, 0 to 1.",
    "memory_used_ratio": "Share of the total memory in use, 0 to 1.",
    "memory_available_bytes": "Memory available, in bytes.",
    "memory_total_bytes": "Total memory, in bytes.",
    "swap_used_ratio": "Share of the total swap in use, 0 to 1.",
    "host_cpus": "CPUs available to the host's processes.",
    "load1": "Load average over 1 minute.",
    "load5": "Load average over 5 minutes.",
    "load15": "Load average over 15 minutes.",
    "load1_per_cpu": "Load average over 1 minute per CPU.",
    "load5_per_cpu": "Load average over 5 minutes per CPU.",
    "load15_per_cpu": "Load average over 15 minutes per CPU.",
    "log_matches": "Lines of the log file matching the pattern in the checked window.",
    # PostgreSQL (postgres_check)
    "postgres_up": "1 when PostgreSQL accepted the connection, 0 when not.",
    "postgres_connect_seconds": "Time to connect to PostgreSQL, in seconds.",
    "postgres_max_connections": "The server's max_connections.",
    "postgres_connections": "Client connections per state.",
    "postgres_connections_used": "Client connections open, all states together.",
    "postgres_connections_used_ratio": "Client connections open, as a share of max_connections, 0 to 1.",
    "postgres_long_queries": "Queries active for longer than the threshold.",
    "postgres_longest_query_seconds": "Duration of the longest active query, in seconds.",
    "postgres_idle_in_transaction_sessions": "Sessions idle in transaction for longer than the threshold.",
    "postgres_oldest_idle_in_transaction_seconds": "Longest time a session has been idle in transaction, in seconds.",
    "postgres_in_recovery": "1 when the server is a standby (in recovery), 0 on a primary.",
    "postgres_replicas": "Replicas streaming from the server.",
    "postgres_replication_lag_seconds": "Replay lag of the replica, in seconds.",
    "postgres_replication_lag_bytes": "Replay lag of the replica, in bytes of WAL.",
    "postgres_xid_age": "Age of the database's oldest unfrozen transaction ID, in transactions.",
    "postgres_database_size_bytes": "Size of the database, in bytes.",
    "postgres_blocks_hit_total": "Blocks found in the buffer cache since the statistics were reset.",
    "postgres_blocks_read_total": "Blocks read from disk since the statistics were reset.",
    "postgres_cache_hit_ratio": "Share of block reads served by the buffer cache, 0 to 1.",
    # PostgreSQL operations (pg_diagnostics, pg_terminate, pg_maintenance)
    "pg_connections": "Connections per state, as pg_diagnostics saw them.",
    "pg_long_transactions": "Transactions open for longer than the threshold.",
    "pg_slow_queries": "Active queries running for longer than the threshold.",
    "pg_blocked_sessions": "Sessions waiting for a lock.",
    "pg_long_sessions": "Sessions longer than the threshold found by pg_terminate.",
    "pg_sessions_stopped": "Sessions pg_terminate stopped in this run, per outcome.",
    "pg_maintenance_planned_actions": "Maintenance actions planned (check mode).",
    "pg_maintenance_actions": "Maintenance actions of this run, per status (done, skipped, failed).",
    "pg_maintenance_reclaimed_bytes": "Space reclaimed by the maintenance run, in bytes.",
    "pg_maintenance_duration_seconds": "Time the maintenance actions took, in seconds.",
    # Redis (redis_check)
    "redis_up": "1 when Redis answered PING, 0 when not.",
    "redis_ping_seconds": "Round trip of PING, in seconds.",
    "redis_uptime_seconds": "Time since the Redis server started, in seconds.",
    "redis_used_memory_bytes": "Memory used by Redis, in bytes.",
    "redis_maxmemory_bytes": "Redis's maxmemory limit, in bytes (0 without a limit).",
    "redis_memory_used_ratio": "Memory used by Redis, as a share of maxmemory (or of memory_limit_bytes without one), 0 to 1.",
    "redis_evicted_keys_total": "Keys evicted since the Redis server started.",
    "redis_keyspace_hits_total": "Successful key lookups since the Redis server started.",
    "redis_keyspace_misses_total": "Failed key lookups since the Redis server started.",
    "redis_keyspace_hit_ratio": "Share of key lookups that hit since the server started, 0 to 1.",
    "redis_connected_clients": "Clients connected to Redis.",
    "redis_blocked_clients": "Clients blocked in a blocking call.",
    "redis_maxclients": "Redis's maxclients limit.",
    "redis_db_keys": "Keys in the Redis database.",
    "redis_queue_length": "Length of the queue (a Redis list).",
}


def metric_type(name: str) -> str:
    """``counter`` for a name ending in ``_total`` (a cumulative value), else ``gauge`` (a level)."""
    return "counter" if name.endswith("_total") else "gauge"


def metric_help(name: str, module: str = "") -> str:
    """The HELP text of a module's metric (``name`` without the ``runbook_ops_`` prefix)."""
    known = METRIC_HELP.get(name)
    if known:
        return known
    return "runbook.ops metric %s (module %s)." % (name, module or "?")
