#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: incident_triage
short_description: Collect an incident's evidence into a redacted bundle, propose its severity, build its timeline and report
version_added: 0.2.0
author: runbook.ops contributors (@runbook-ops)
description:
  - The triage of seed 002 ("Initial triage", "Investigation & Diagnosis") in one task, for the
    on-call engineer who was just paged.
  - B(Collect) concurrently, each collector with a time limit (O(collector_timeout)) and a byte limit
    (O(collector_max_bytes)); a collector that fails or times out is recorded and the others are kept.
    Collectors - O(docker) (state, inspect, logs of the current and the previous instance, engine events,
    stats, deploy records), O(postgres) (pg_stat_activity, blocking chains, long transactions, connection
    counts), O(redis) (INFO, queue depths), O(kubernetes) (Deployment revisions), O(host) (disk, memory,
    load, top processes), O(logs) (application log files), O(reports_dir) (recent run reports), and the
    health check results given in O(health_results).
  - B(Redact) everything in memory before anything is written or returned (O(redact)).
  - B(Classify) - propose the severity P0 to P3 of seed 002's matrix with the evidence for it
    (the C(evidence) of RV(incident)); see O(rules).
  - B(Timeline) - events with their real times, in order (container starts, exits and restarts, deploys,
    first ERROR lines, lock waits, earlier failed runs, O(alerts)).
  - B(Report) - seed 002's incident report template (C(INC-YYYY-MM-DD-NNN)) as Markdown and JSON.
  - B(Bundle) - one tar compressed with zstd holding every collected file, the reports and a
    C(manifest.json) with the SHA-256 of each file; verified after writing; optionally uploaded (O(upload)).
  - Read-only towards every system it collects from; the only thing it writes is the bundle and its two
    reports in O(output_dir).
extends_documentation_fragment:
  - runbook.ops.attributes
options:
    output_dir:
      description:
      - Directory for the bundle and the reports (created when missing). Each triage writes C(<incident_id>.tar.zst),
        C(<incident_id>.md) and C(<incident_id>.json) there.
      type: path
      required: true
    incident_id:
      description:
      - The incident's id. Default the next free C(INC-YYYY-MM-DD-NNN) of today (UTC) in O(output_dir),
        C(001) first.
      - When a bundle of that id exists already, the new one is named C(<id>-2), C(<id>-3) ...
      type: str
    platform:
      description:
      - 'The platform triaged (the inventory group: compose_app, k8s_app, django_app, static_site, sandbox),
        shown in the report.'
      type: str
      default: ''
    reporter:
      description:
      - Who started the triage, shown in the report.
      type: str
      default: ''
    since_hours:
      description:
      - 'Window of logs and engine events collected: the last this many hours.'
      type: float
      default: 6
    log_lines:
      description:
      - At most this many lines of each log (each container's current and previous instance, each application
        log).
      type: int
      default: 2000
    collector_timeout:
      description:
      - Seconds each collector may run; one still running then is left out and recorded as C(timeout), the
        others are kept.
      type: float
      default: 20
    collector_max_bytes:
      description:
      - Bytes each collector may gather; past it a file is cut (the end of a log kept) and the collector's
        check is a warning.
      type: int
      default: 16777216
    workers:
      description:
      - Collectors run at the same time.
      type: int
      default: 8
    compression:
      description:
      - 'Compression of the bundle: zstd (C(.tar.zst), through pzstd or zstd), gzip (C(.tar.gz)) or none
        (C(.tar)).'
      type: str
      choices:
      - zstd
      - gzip
      - none
      default: zstd
    health_results:
      description:
      - Registered results of the health check, run afresh just before (the role runbook.ops.triage passes
        those of runbook.ops.health_check), by label. Their failing checks are evidence; they go into the
        bundle as C(health/results.json). Values without the C(runbook.ops/result/v1) schema are ignored.
      type: dict
      default: {}
    alerts:
      description:
      - Alerts to put on the timeline, for example the page that started the triage.
      type: list
      elements: dict
      default: []
      suboptions:
        time:
          description:
          - When the alert fired, ISO 8601 (C(2026-12-02T07:41:00Z)).
          type: str
          required: true
        summary:
          description:
          - What the alert said.
          type: str
          required: true
        source:
          description:
          - Where it came from (PagerDuty, Alertmanager ...).
          type: str
          default: alert
    docker:
      description:
      - 'Collect from the Docker engine: for each selected container its state and C(inspect) (environment
        values masked except O(redact.env_keep)), the last O(log_lines) lines of the last O(since_hours)
        hours of its logs, the last lines of its previous instance when it restarted, the engine''s events
        (start, die with exit code, restart, OOM) of the window, one C(stats) sample, and the deploy records
        C(runbook.ops.docker_rollout) leaves in its labels.'
      - Not collected when not given.
      type: dict
      suboptions:
        docker_host:
          description:
          - URL of the Docker engine API, C(unix:///path/to/docker.sock) or C(tcp://host:port) (C(https)
            is used with O(docker.tls=true)).
          - Defaults to the E(DOCKER_HOST) environment variable when set.
          type: str
          default: unix:///var/run/docker.sock
        api_version:
          description:
          - Docker API version to speak, for example C(1.41); C(auto) asks the engine.
          - Defaults to E(DOCKER_API_VERSION) when set.
          type: str
          default: auto
        timeout:
          description:
          - Seconds allowed for each API call.
          - Defaults to E(DOCKER_TIMEOUT) when set.
          type: int
          default: 30
        tls:
          description:
          - Connect to a C(tcp://) engine over TLS. Implied by O(docker.validate_certs=true) or O(docker.client_cert).
          - Defaults to E(DOCKER_TLS) when set.
          type: bool
          default: false
        validate_certs:
          description:
          - Verify the engine's certificate against O(docker.ca_path) (or the system store) and its host
            name.
          - Defaults to E(DOCKER_TLS_VERIFY) when set.
          type: bool
          default: false
        ca_path:
          description:
          - CA certificate (PEM) to verify the engine against.
          type: path
        client_cert:
          description:
          - Client certificate (PEM) for engines that require TLS client authentication. Needs O(docker.client_key).
          type: path
        client_key:
          description:
          - Private key (PEM) of O(docker.client_cert).
          type: path
        names:
          description:
          - Containers by name or ID; a name the engine does not know is skipped.
          type: list
          elements: str
          default: []
        labels:
          description:
          - Also every container (running or not) with all these labels (C(key) or C(key=value)).
          type: list
          elements: str
          default: []
        all:
          description:
          - Every container of the engine, running or not.
          type: bool
          default: false
        stats:
          description:
          - Take one C(stats) sample of each running container.
          type: bool
          default: true
    postgres:
      description:
      - 'Collect from PostgreSQL, in one read-only session: every session of C(pg_stat_activity) (query
        text cut to O(postgres.query_chars)), the connections by state against C(max_connections), who blocks
        whom (blocking chains) and the open transactions.'
      - A server that cannot be reached is evidence (P0), not a failed collector. Not collected when not
        given; given as C({}), every connection option comes from its default or the environment.
      - The connection options default to libpq's environment variables when they are set (E(PGHOST),
        E(PGPORT), E(PGUSER), E(PGPASSWORD), E(PGDATABASE), E(PGSSLMODE), E(PGSSLROOTCERT),
        E(PGCONNECT_TIMEOUT)), as in the other PostgreSQL modules.
      type: dict
      suboptions:
        login_host:
          description:
          - Host name or address of the PostgreSQL server.
          - Ignored when O(postgres.login_unix_socket) is set.
          type: str
          default: localhost
        port:
          description:
          - TCP port of the server (also the number in the Unix socket's file name).
          type: int
          default: 5432
        login_user:
          description:
          - Role to log in as. Health checks need no more than membership in C(pg_monitor).
          type: str
          default: postgres
        login_password:
          description:
          - Password of O(postgres.login_user). Never shown in results or messages.
          - When not set, libpq's usual sources apply (C(PGPASSWORD), C(~/.pgpass)).
          type: str
        database:
          description:
          - Database to connect to.
          type: str
          default: postgres
        login_unix_socket:
          description:
          - Directory holding the server's Unix socket, for example C(/var/run/postgresql).
          - When set it is used instead of O(postgres.login_host).
          type: path
        ssl_mode:
          description:
          - libpq C(sslmode) for the connection.
          type: str
          choices:
          - disable
          - allow
          - prefer
          - require
          - verify-ca
          - verify-full
          default: prefer
        ca_cert:
          description:
          - CA certificate file (PEM) to verify the server against (libpq C(sslrootcert)), used with O(postgres.ssl_mode=verify-ca)
            or O(postgres.ssl_mode=verify-full).
          type: path
        connect_timeout:
          description:
          - Seconds to wait for the connection to be established.
          type: int
          default: 10
        statement_timeout:
          description:
          - Seconds each query may run.
          type: float
          default: 5
        query_chars:
          description:
          - Characters of each session's query text kept.
          type: int
          default: 500
    redis:
      description:
      - 'Collect from Redis: C(INFO) (every section), the depth (C(LLEN)) of each queue of O(redis.queues)
        and the memory settings.'
      - A server that cannot be reached is evidence (P0), not a failed collector. Not collected when not
        given.
      type: dict
      suboptions:
        login_host:
          description:
          - Host name or address of the Redis server.
          type: str
          default: localhost
        port:
          description:
          - TCP port of the Redis server.
          type: int
          default: 6379
        login_user:
          description:
          - ACL user name (Redis 6 and later). When set, C(AUTH <user> <password>) is sent; otherwise C(AUTH
            <password>) for the default user. Requires O(redis.login_password).
          type: str
        login_password:
          description:
          - Password (C(requirepass) or the ACL user's). No C(AUTH) is sent when not set. Never shown in
            results or messages.
          type: str
        db:
          description:
          - Database number to C(SELECT) after connecting.
          type: int
          default: 0
        tls:
          description:
          - Connect over TLS.
          type: bool
          default: false
        validate_certs:
          description:
          - With O(redis.tls=true), verify the server's certificate chain and host name.
          type: bool
          default: true
        ca_path:
          description:
          - CA PEM file or hashed directory to verify the server against; the system store when not set.
          type: path
        connect_timeout:
          description:
          - Seconds allowed to connect and for each reply.
          type: float
          default: 5
        queues:
          description:
          - Queues (lists) whose depth is read and judged, for example C(celery).
          type: list
          elements: dict
          default: []
          suboptions:
            name:
              description:
              - Key of the list.
              type: str
              required: true
            warning:
              description:
              - 'Depth at which the queue is a P2 warning (the seeds: 100).'
              type: int
            critical:
              description:
              - 'Depth at which the queue is a P1 incident (the seeds'' "P1: High Task Queue Depth": 1000).'
              type: int
    kubernetes:
      description:
      - 'Collect from Kubernetes: the status and revision history of each Deployment of O(kubernetes.deployments)
        (the ReplicaSets C(runbook.ops.k8s_rollout) reads), each revision a deploy on the timeline. Not
        collected when not given.'
      type: dict
      suboptions:
        kubeconfig:
          description:
          - Path to a kubeconfig file. Without it (and without O(kubernetes.host)) the kubeconfig named
            by E(KUBECONFIG) or C(~/.kube/config) is read; inside a pod without either, the pod's service
            account is used.
          - Defaults to E(K8S_AUTH_KUBECONFIG) when set.
          type: path
        context:
          description:
          - Context of the kubeconfig to use; default its current context.
          - Defaults to E(K8S_AUTH_CONTEXT) when set.
          type: str
        host:
          description:
          - URL of the API server, for example C(https://k8s.example.internal:6443). Without O(kubernetes.kubeconfig)
            or O(kubernetes.context) the module talks to this host alone (with O(kubernetes.api_key)); with
            them, it overrides the kubeconfig's server.
          - Defaults to E(K8S_AUTH_HOST) when set.
          type: str
        api_key:
          description:
          - Bearer token (a service account token) sent to the API server; overrides the kubeconfig's credentials.
          - Defaults to E(K8S_AUTH_API_KEY) when set.
          type: str
        validate_certs:
          description:
          - Verify the API server's TLS certificate. Default the kubeconfig's setting (verify).
          - Defaults to E(K8S_AUTH_VERIFY_SSL) when set.
          type: bool
          aliases:
          - verify_ssl
        ca_cert:
          description:
          - CA certificate (PEM) to verify the API server against.
          - Defaults to E(K8S_AUTH_SSL_CA_CERT) when set.
          type: path
          aliases:
          - ssl_ca_cert
        client_cert:
          description:
          - Client certificate (PEM) for TLS client authentication. Needs O(kubernetes.client_key).
          - Defaults to E(K8S_AUTH_CERT_FILE) when set.
          type: path
          aliases:
          - cert_file
        client_key:
          description:
          - Private key (PEM) of O(kubernetes.client_cert).
          - Defaults to E(K8S_AUTH_KEY_FILE) when set.
          type: path
          aliases:
          - key_file
        request_timeout:
          description:
          - Seconds allowed for each API request.
          type: float
          default: 30
        namespace:
          description:
          - Namespace of the Deployments.
          type: str
          default: default
        deployments:
          description:
          - Names of the Deployments.
          type: list
          elements: str
          default: []
    host:
      description:
      - 'The local host: disk, memory and load (the measures of C(runbook.ops.host_check)), C(/proc/meminfo),
        C(/proc/loadavg), and the top processes by CPU.'
      type: dict
      default: {}
      suboptions:
        enabled:
          description:
          - Collect it.
          type: bool
          default: true
        mounts:
          description:
          - Mount points whose usage is read; default every real file system.
          type: list
          elements: path
          default: []
        top:
          description:
          - How many processes are listed.
          type: int
          default: 15
    logs:
      description:
      - 'Application log files: the end of each (within the byte limit and O(log_lines)), its ERROR lines
        counted and the first one put on the timeline, lines matching O(rules.security_patterns) and O(rules.data_loss_patterns)
        counted.'
      type: list
      elements: dict
      default: []
      suboptions:
        name:
          description:
          - Name in the bundle and the report; default the file name.
          type: str
        path:
          description:
          - Path of the log file.
          type: path
          required: true
    reports_dir:
      description:
      - Directory of the run reports of C(runbook.ops.report) (C(report_dir)); the last O(reports_count)
        reports go into the bundle, and their warning and critical runs onto the timeline.
      type: path
    reports_count:
      description:
      - How many recent reports are collected.
      type: int
      default: 5
    redact:
      description:
      - How secrets are masked. Everything is redacted in memory before anything is written or returned.
        See the guide docs/triage.md for the default rules.
      type: dict
      default: {}
      suboptions:
        defaults:
          description:
          - Apply the built-in rules (private keys, Authorization headers, bearer tokens, connection strings
            with credentials, AWS keys, known token shapes, C(key=value) pairs whose key names a secret,
            SQL C(PASSWORD '...')).
          type: bool
          default: true
        rules:
          description:
          - Extra rules, applied after the built-in ones.
          type: list
          elements: dict
          default: []
          suboptions:
            name:
              description:
              - Name of the rule, counted in RV(redactions).
              type: str
              required: true
            regex:
              description:
              - Python regular expression; what it matches (or its O(redact.rules.group)) is replaced by
                C([REDACTED]).
              type: str
              required: true
            group:
              description:
              - The group of the match to replace; V(0) the whole match.
              type: int
              default: 0
        literals:
          description:
          - Literal secrets to mask wherever they appear (the connection passwords given to this module
            are added).
          type: list
          elements: str
          default: []
        env_keep:
          description:
          - Container environment variables whose values are kept (shell patterns); every other value is
            masked.
          type: list
          elements: str
          default:
          - PATH
          - HOME
          - HOSTNAME
          - LANG
          - LC_*
          - TZ
          - TERM
          - PYTHON*
          - DEBUG
          - '*_MODE'
          - '*_LEVEL'
          - '*_ENV'
          - '*_VERSION'
          - '*_PORT'
          - '*_HOST'
          - '*_THRESHOLD'
          - '*_LIMIT'
          - '*_TIMEOUT'
          - '*_WORKERS'
          - ENABLE_*
          - CACHE_ONLY*
          - FALLBACK*
    rules:
      description:
      - Thresholds of the classification (seed 002's severity matrix). See the guide docs/triage.md.
      type: dict
      default: {}
      suboptions:
        crash_loop_restarts:
          description:
          - 'Restarts (in all, or engine C(die) events in the window) from which a container is crash-looping:
            service down, P0.'
          type: int
          default: 3
        blocking_seconds:
          description:
          - Seconds a session has waited on a lock from which the blocking is a P1 (performance degraded);
            less is a P2.
          type: float
          default: 30
        long_transaction_seconds:
          description:
          - Seconds a transaction has been open from which it is a P1.
          type: float
          default: 300
        connections_critical:
          description:
          - Percent of C(max_connections) in use from which it is a P1.
          type: float
          default: 95
        error_lines_warning:
          description:
          - ERROR lines in the collected part of an application log from which it is a P2.
          type: int
          default: 10
        security_patterns:
          description:
          - Regular expressions of log lines that mean a security incident (P0).
          type: list
          elements: str
          default: []
        data_loss_patterns:
          description:
          - Regular expressions of log lines that mean data loss or corruption (P0).
          type: list
          elements: str
          default: []
    upload:
      description:
      - Upload the bundle and its two reports to S3 (SHA-256 checksums, with the collection's S3 client)
        under O(upload.prefix). Not uploaded when not given; never in check mode.
      type: dict
      suboptions:
        bucket:
          description:
          - Name of the S3 bucket.
          type: str
          required: true
        endpoint_url:
          description:
          - URL of an S3-compatible endpoint (MinIO, Ceph, moto), for example C(http://127.0.0.1:9000).
            Path-style addressing is used when it is set. Defaults to AWS.
          type: str
        region:
          description:
          - Region of the bucket.
          type: str
          default: us-east-1
        profile:
          description:
          - Named profile of the AWS shared configuration and credentials files.
          type: str
        access_key:
          description:
          - Access key ID. When not set, boto3's usual sources apply (environment, shared files, instance
            role).
          - Never shown in results or messages.
          type: str
          aliases:
          - aws_access_key_id
        secret_key:
          description:
          - Secret access key, given together with O(upload.access_key). Never shown in results or messages.
          type: str
          aliases:
          - aws_secret_access_key
        session_token:
          description:
          - Session token for temporary credentials. Never shown in results or messages.
          type: str
        validate_certs:
          description:
          - Verify the endpoint's TLS certificate.
          type: bool
          default: true
        retries:
          description:
          - Most attempts per request (botocore's standard retry mode, with exponential backoff). A throttling
            or server error that outlasts them is tried again, twice at most, after 1 and 2 seconds.
          type: int
          default: 5
        s3_connect_timeout:
          description:
          - Seconds to wait for a connection to the endpoint.
          type: float
          default: 10
        s3_read_timeout:
          description:
          - Seconds to wait for data from the endpoint.
          type: float
          default: 60
        prefix:
          description:
          - Key prefix of the uploaded files.
          type: str
          default: incidents

attributes:
  check_mode:
    support: full
    details: Collects, classifies and renders the report as in a real run, returns them and the path the
      bundle would have, and writes nothing (no directory, no bundle, no upload).
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [runbook.ops.triage]
notes:
  - C(changed) is true when the bundle was written (in check mode, when it would be).
  - A health condition (Redis refusing connections, a crash-looping container) is evidence in a
    successful result. The task fails only on bad options or when the bundle cannot be written.
  - The Docker SDK is needed for O(docker), psycopg2 for O(postgres), the kubernetes client for
    O(kubernetes), boto3 for O(upload).
seealso:
  - module: runbook.ops.docker_rollout
  - module: runbook.ops.k8s_rollout
  - module: runbook.ops.health_gate
"""

EXAMPLES = r"""
- name: Triage the sandbox (Docker, PostgreSQL, Redis, the API's log)
  runbook.ops.incident_triage:
    output_dir: /var/lib/runbook-ops/incidents
    platform: compose_app
    reporter: "{{ lookup('env', 'USER') }}"
    docker:
      labels: [com.docker.compose.project=finchat]
    postgres:
      login_host: db.internal
      login_user: monitor
      login_password: "{{ vault_monitor_password }}"
      database: app
    redis:
      login_host: redis.internal
      login_password: "{{ vault_redis_password }}"
      queues:
        - name: celery
          warning: 100
          critical: 1000
    logs:
      - name: finchat_api
        path: /var/log/finchat/app.log
    alerts:
      - time: "2026-12-02T02:03:00Z"
        summary: "HighQueueDepth: celery > 500 for 15 minutes"
        source: alertmanager
  register: triage

- name: Show the proposed severity and where the report is
  ansible.builtin.debug:
    msg: "{{ triage.incident.id }} {{ triage.incident.severity }}: {{ triage.report_paths.markdown }}"

- name: What would be collected, without writing anything
  runbook.ops.incident_triage:
    output_dir: /var/lib/runbook-ops/incidents
    docker:
      all: true
  check_mode: true
"""

RETURN = r"""
schema:
  description: The result schema's identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
status:
  description: Worst status of RV(checks) (C(critical) for a proposed P0 or P1, C(warning) for a P2).
  returned: always
  type: str
  sample: critical
severity:
  description: The proposed severity (that of the C(incident.severity) check).
  returned: always
  type: str
  sample: P0
summary:
  description: One line, the incident id and the deciding evidence.
  returned: always
  type: str
  sample: "triage INC-2026-12-02-001: P0 (Critical): Redis does not answer: connection refused by 127.0.0.1:6379"
checks:
  description:
    - C(triage.collector.<name>) per collector (warning when it failed, timed out or was cut at its byte
      limit), C(triage.bundle), and C(incident.severity) whose value is the proposed severity.
  returned: always
  type: list
  elements: dict
metrics:
  description: C(triage_duration_seconds), C(triage_collector_seconds{collector=...}), C(triage_bundle_bytes).
  returned: always
  type: dict
incident:
  description: The incident - C(id), C(severity), C(severity_name), C(response_time), C(evidence)
    (C(name), C(severity), C(source), C(message), C(service), most urgent first), C(started), C(triaged),
    C(platform).
  returned: always
  type: dict
timeline:
  description: Events in time order - C(at) (ISO 8601 UTC), C(source), C(kind), C(message); the last is the triage itself.
  returned: always
  type: list
  elements: dict
report:
  description: The incident report's data (seed 002's template), as written to the JSON report.
  returned: always
  type: dict
report_markdown:
  description: The incident report as Markdown, ready to paste into a ticket.
  returned: always
  type: str
report_paths:
  description: Paths of the Markdown (C(markdown)) and JSON (C(json)) reports; empty in check mode.
  returned: always
  type: dict
bundle:
  description:
    - C(path) (where it is, or would be in check mode), C(files), C(written); once written also C(size),
      C(sha256) of the bundle file, C(verified) and C(problems) of the check against its manifest, and
      C(uploaded) (the S3 keys) with O(upload).
  returned: always
  type: dict
collectors:
  description: Per collector - C(name), C(status) (ok, failed, timeout), C(seconds), C(bytes), C(truncated) (files cut), C(error).
  returned: always
  type: list
  elements: dict
redactions:
  description: How many secrets each redaction rule masked (C(literal) for the given secrets).
  returned: always
  type: dict
  sample: {"secret_key_value": 3, "connection_string": 1}
check_mode:
  description: Whether this was a check-mode run (nothing written).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.triage import argspec, triage_runner


def main() -> None:
    module = arguments.new_module(AnsibleModule, supports_check_mode=True, **argspec.triage_argspec())
    triage_runner.run(module)


if __name__ == "__main__":
    main()
