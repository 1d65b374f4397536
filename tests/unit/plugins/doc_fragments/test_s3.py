"""The S3 doc fragment's two copies of the connection options say the same thing."""

from __future__ import annotations

import yaml

from ansible_collections.runbook.ops.plugins.doc_fragments.s3 import ModuleDocFragment


def test_backup_suboptions_repeat_the_top_level_options():
    top = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    nested = yaml.safe_load(ModuleDocFragment.BACKUP_SUBOPTIONS)["options"]["s3"]["suboptions"]
    assert set(nested) == set(top) | {"prefix"}
    for name, option in top.items():
        expected = yaml.safe_load(yaml.safe_dump(option).replace("O(access_key)", "O(s3.access_key)"))
        assert nested[name] == expected, name
