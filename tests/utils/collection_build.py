"""Build the collection tarball and list what it must not hold.

``build(source, out_dir)`` runs ``ansible-galaxy collection build`` on a tree and returns the
tarball; ``problems(tarball)`` lists every member outside the allow-list, every vault file (by
name or by its ``$ANSIBLE_VAULT`` header), and every runner artifact, cache or development
directory, one line each. An empty list is a clean collection.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path
from typing import List

# What a built runbook.ops holds at its top level: the collection and nothing else.
ALLOWED_TOP = {
    "MANIFEST.json", "FILES.json", "README.md", "CHANGELOG.md", "COPYING",
    "plugins", "roles", "playbooks", "meta", "docs", "changelogs",
}
# Under changelogs/ only the release history and its configuration.
ALLOWED_CHANGELOGS = {"changelogs", "changelogs/changelog.yaml", "changelogs/config.yaml"}
# A directory of these names anywhere is a leak (runner job dirs, ansible-core's cache, tooling).
FORBIDDEN_DIRS = {
    "artifacts", ".ansible", "benchmarks", "sandbox", "scripts", "molecule", "tests", ".ci",
    "inventories", "collection", "__pycache__", ".pytest_cache", ".cache", ".venv", ".git",
    "reports",
}
VAULT_HEADER = b"$ANSIBLE_VAULT"


def build(source: Path, out_dir: Path) -> Path:
    """``ansible-galaxy collection build`` of ``source`` into ``out_dir``; the tarball's path."""
    galaxy = Path(sys.executable).with_name("ansible-galaxy")
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([str(galaxy), "collection", "build", "--force", "--output-path", str(out_dir), str(source)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tarballs = sorted(out_dir.glob("runbook-ops-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    return tarballs[0]


def problems(tarball: Path) -> List[str]:
    """Every member of ``tarball`` that a collection must not ship, with the reason."""
    found = []
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            name = member.name[2:] if member.name.startswith("./") else member.name
            parts = name.split("/")
            if parts[0] not in ALLOWED_TOP:
                found.append("%s: outside the allow-list" % name)
            elif parts[0] == "changelogs" and name not in ALLOWED_CHANGELOGS:
                found.append("%s: only changelog.yaml and config.yaml ship from changelogs/" % name)
            bad_dirs = FORBIDDEN_DIRS.intersection(parts[:-1] if member.isfile() else parts)
            if bad_dirs:
                found.append("%s: inside %s" % (name, ", ".join(sorted(bad_dirs))))
            if parts[-1] in ("vault.yml", "vault.yaml") or parts[-1].endswith(".vault"):
                found.append("%s: a vault file by its name" % name)
            if member.isfile():
                handle = tar.extractfile(member)
                head = handle.read(len(VAULT_HEADER)) if handle else b""
                if head == VAULT_HEADER:
                    found.append("%s: an Ansible Vault file ($ANSIBLE_VAULT header)" % name)
    return found
