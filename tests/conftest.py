"""Shared fixtures: real services started by the project itself, on loopback ports."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from sandbox.k8s import ControlPlane
from sandbox.services import Moto, Postgres, Redis


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A real PostgreSQL 15 cluster (initdb) on a free 127.0.0.1 port, for the whole session."""
    # Not under pytest's 0700 tmp dirs: the server runs as the postgres user.
    base = Path(tempfile.mkdtemp(prefix="runbook-ops-pg-"))
    server = Postgres(base).start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server on a free 127.0.0.1 port, with a password."""
    server = Redis(tmp_path_factory.mktemp("redis"), password="redis-test-secret").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's S3 server on a free 127.0.0.1 port."""
    server = Moto(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def k8s_cluster():
    """A real Kubernetes v1.20.2 control plane on loopback (sandbox/k8s.py): etcd, kube-apiserver,
    kube-controller-manager, kube-scheduler, and a fake kubelet with two nodes that runs no container
    (pods become Running and Ready by image name). A ``utils.k8s_cluster.Cluster``: ``kubeconfig``,
    ``token``, ``url``, the client APIs; each test works in a namespace of its own."""
    from utils.k8s_cluster import Cluster  # imports the kubernetes client only where it is used

    base = Path(tempfile.mkdtemp(prefix="runbook-ops-k8s-"))
    plane = ControlPlane(base, nodes=2).start()
    cluster = Cluster(plane)
    yield cluster
    cluster.close()
    plane.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def k8s_ns(k8s_cluster):
    """A fresh namespace on the real control plane, deleted afterwards."""
    name = k8s_cluster.new_namespace()
    yield name
    k8s_cluster.delete_namespace(name)
