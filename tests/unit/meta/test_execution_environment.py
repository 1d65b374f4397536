"""The execution environment's definitions: meta/execution-environment.yml as ansible-builder
introspects it, and collection/execution-environment.yml as ansible-builder turns it into a
build context (no image is built here: scripts/build-ee and
tests/integration/ee/test_ee_image.py build and run the local one)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
BUILDER = Path(sys.executable).with_name("ansible-builder")
GALAXY = Path(sys.executable).with_name("ansible-galaxy")
# A module's top-level import -> the declared distribution that provides it (requests and
# urllib3 are imported for the exceptions of the Docker SDK and of the Kubernetes client,
# which depend on them).
DISTRIBUTIONS = {"psycopg2": "psycopg2-binary", "boto3": "boto3", "botocore": "boto3",
                 "docker": "docker", "requests": "docker", "kubernetes": "kubernetes",
                 "urllib3": "kubernetes"}


def introspect(path):
    out = subprocess.run([str(BUILDER), "introspect", "--sanitize", str(path)], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    return yaml.safe_load(out.split("\n", 1)[1])


def names(lines):
    return {re.split(r"[\s<>=\[;]", line, maxsplit=1)[0] for line in lines}


def third_party_imports():
    """The top-level packages imported by plugins/ that are neither ours, Ansible's nor stdlib."""
    found = set()
    for path in (ROOT / "plugins").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names
            and name not in ("ansible", "ansible_collections", "__future__")}


def test_introspection_finds_our_python_and_system_dependencies():
    deps = introspect(ROOT / "collection")
    assert names(deps["python"]) == {"psycopg2-binary", "boto3", "docker", "kubernetes"}
    assert all(line.endswith("# from collection runbook.ops") for line in deps["python"] + deps["system"])
    system = names(deps["system"])
    assert {"postgresql-client", "zstd", "tar", "ca-certificates"} <= system


def test_every_library_the_plugins_import_is_a_declared_requirement():
    imported = third_party_imports()
    assert imported <= set(DISTRIBUTIONS), "not mapped to a distribution: %s" % (imported - set(DISTRIBUTIONS))
    declared = names(line for line in (ROOT / "meta" / "ee-requirements.txt").read_text().splitlines()
                     if line.strip() and not line.startswith("#"))
    assert {DISTRIBUTIONS[name] for name in imported} == declared


def test_ee_requirements_agree_with_the_control_node_dependencies():
    pyproject = (ROOT / "pyproject.toml").read_text()
    for line in (ROOT / "meta" / "ee-requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert '"%s"' % line.strip() in pyproject, line


def test_bindep_selects_pg_dump_and_zstd_on_debian_and_rpm_platforms():
    lines = [line for line in (ROOT / "meta" / "ee-bindep.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    dpkg = {line.split()[0] for line in lines if "platform:dpkg" in line}
    rpm = {line.split()[0] for line in lines if "platform:rpm" in line}
    assert {"postgresql-client", "zstd"} <= dpkg
    assert {"postgresql", "zstd"} <= rpm


def test_registry_definition_builds_a_context_from_the_tarball(tmp_path):
    """ansible-builder create: the named base, runbook.ops from the tarball (not Galaxy)."""
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    tarball_name = "runbook-ops-%s.tar.gz" % galaxy["version"]
    work = tmp_path / "collection"
    shutil.copytree(ROOT / "collection", work, ignore=shutil.ignore_patterns("ansible_collections"))
    subprocess.run([str(GALAXY), "collection", "build", "--output-path", str(work), str(ROOT)],
                   check=True, capture_output=True, timeout=120)
    assert (work / tarball_name).exists()
    subprocess.run([str(BUILDER), "create", "-f", "execution-environment.yml", "-c", str(tmp_path / "ctx"),
                    "--output-filename", "Containerfile"], cwd=str(work), check=True, capture_output=True,
                   timeout=120)
    containerfile = (tmp_path / "ctx" / "Containerfile").read_text()
    definition = yaml.safe_load((ROOT / "collection" / "execution-environment.yml").read_text())
    base = definition["images"]["base_image"]["name"]
    assert 'ARG EE_BASE_IMAGE="%s"' % base in containerfile
    assert "example.invalid" not in containerfile
    assert "module enable postgresql:15" in containerfile
    assert (tmp_path / "ctx" / "_build" / "collections" / tarball_name).exists()
    requirements = yaml.safe_load((tmp_path / "ctx" / "_build" / "requirements.yml").read_text())
    sources = {entry["name"]: entry.get("type") for entry in requirements["collections"]}
    # The galaxy stage copies _build/ to /build: the tarball is found there, runbook.ops never on Galaxy.
    assert sources["/build/collections/" + tarball_name] == "file"
    assert "runbook.ops" not in sources
    with tarfile.open(work / tarball_name) as tar:
        assert "meta/execution-environment.yml" in tar.getnames()
        assert "meta/ee-requirements.txt" in tar.getnames()
