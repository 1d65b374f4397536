"""The built collection holds the collection only: no vault file, no runner artifact, no tooling.

Builds with the real ``ansible-galaxy collection build``: once from the repository as it is, and
from copies of it with leaks planted, to prove that galaxy.yml's build_ignore keeps them out and
that the check finds them when it does not.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from utils import collection_build

ROOT = Path(__file__).resolve().parents[3]
VAULTED = "$ANSIBLE_VAULT;1.1;AES256\n6231336539393939\n"
# What the README's ansible-runner command leaves behind: a job directory whose `command` file
# holds the whole environment, credentials included.
RUNNER_COMMAND = '{"command": ["ansible-playbook"], "env": {"PGPASSWORD": "planted-secret"}}\n'

pytestmark = pytest.mark.slow


def _copy_tree(dest: Path) -> Path:
    """The working tree without .git, the venv and caches (symlinks kept as links)."""
    ignore = shutil.ignore_patterns(".git", ".venv", ".cache", ".sandbox", "__pycache__", "*.tar.gz", "reports",
                                    "artifacts", ".ansible")
    shutil.copytree(ROOT, dest, symlinks=True, ignore=ignore)
    return dest


def _plant(tree: Path) -> None:
    """Every leak the issue found, where a user would leave it."""
    for where in ("inventories/production/group_vars/all/vault.yml", "roles/backup/vars/vault.yml",
                  "playbooks/group_vars/all/vault.yml"):
        path = tree / where
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(VAULTED)
    job = tree / "artifacts" / "4f1c2d"
    job.mkdir(parents=True)
    (job / "command").write_text(RUNNER_COMMAND)
    (tree / "roles" / "health_check" / "artifacts").mkdir()
    (tree / "roles" / "health_check" / "artifacts" / "command").write_text(RUNNER_COMMAND)
    (tree / ".ansible" / "tmp").mkdir(parents=True)
    (tree / ".ansible" / "tmp" / "cache.json").write_text("{}\n")
    (tree / "playbooks" / ".ansible").mkdir()
    (tree / "playbooks" / ".ansible" / "collections").write_text("x\n")


def _names(tarball: Path):
    with tarfile.open(tarball) as tar:
        return [member.name for member in tar.getmembers()]


def test_the_built_collection_holds_only_the_collection(tmp_path):
    tarball = collection_build.build(ROOT, tmp_path / "out")
    assert collection_build.problems(tarball) == []
    names = _names(tarball)
    top = {name.split("/")[0] for name in names}
    # Everything a user of the collection needs is there.
    assert {"plugins", "roles", "playbooks", "meta", "docs", "README.md", "CHANGELOG.md", "COPYING"} <= top
    assert "meta/runtime.yml" in names and "plugins/callback/report.py" in names
    assert "roles/health_check/meta/argument_specs.yml" in names
    assert "changelogs/changelog.yaml" in names


def test_planted_vault_files_and_runner_artifacts_stay_out(tmp_path):
    tree = _copy_tree(tmp_path / "tree")
    _plant(tree)
    # A vault file under a name no pattern can know: only its header gives it away.
    (tree / "roles" / "restore" / "vars" / "credentials.yml").write_text(VAULTED)
    tarball = collection_build.build(tree, tmp_path / "out")
    names = _names(tarball)
    for leak in ("vault.yml", "artifacts", ".ansible", "planted-secret"):
        assert not [name for name in names if leak in name], leak
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            if member.isfile():
                assert b"planted-secret" not in tar.extractfile(member).read(), member.name
    # build_ignore cannot see inside a file: the check does, and fails the build.
    assert collection_build.problems(tarball) == [
        "roles/restore/vars/credentials.yml: an Ansible Vault file ($ANSIBLE_VAULT header)"]


def test_the_check_finds_every_leak_when_build_ignore_is_gone(tmp_path):
    """Without build_ignore every planted leak and every piece of tooling is packed: the check names each."""
    tree = _copy_tree(tmp_path / "tree")
    _plant(tree)
    galaxy = tree / "galaxy.yml"
    text = galaxy.read_text()
    galaxy.write_text(text[:text.index("build_ignore:")] + "build_ignore:\n  - collection/ansible_collections\n")
    found = "\n".join(collection_build.problems(collection_build.build(tree, tmp_path / "out")))
    for expected in (
            "inventories/production/group_vars/all/vault.yml: a vault file by its name",
            "inventories/production/group_vars/all/vault.yml: an Ansible Vault file",
            "roles/backup/vars/vault.yml: a vault file by its name",
            "artifacts/4f1c2d/command: outside the allow-list",
            "roles/health_check/artifacts/command: inside artifacts",
            ".ansible/tmp/cache.json: outside the allow-list",
            "playbooks/.ansible/collections: inside .ansible",
            "benchmarks/", "sandbox/", "scripts/", "molecule/", "tests/", ".ci/", "pyproject.toml",
            "changelogs/fragments/"):
        assert expected in found, expected


@pytest.mark.parametrize("member", ["tests/unit/x.py", "x/.ansible/y", "docs/group_vars/vault.yaml",
                                    "plugins/artifacts/job/stdout", "scripts/test", ".ci/run", "sandbox/x.py"])
def test_the_check_refuses_each_forbidden_member(tmp_path, member):
    src = tmp_path / "src"
    (src / member).parent.mkdir(parents=True)
    (src / member).write_text("x\n")
    (src / "README.md").write_text("ok\n")
    tarball = tmp_path / "t.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(src / "README.md", arcname="README.md")
        tar.add(src / member, arcname=member)
    found = collection_build.problems(tarball)
    assert found and all(line.startswith(member) for line in found), found
