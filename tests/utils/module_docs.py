"""A module's documented options against the argument spec it builds: one comparison for every docs test."""

from __future__ import annotations


def compare(documented, spec, where):
    """Every option of ``spec`` is documented with its type, default, choices, elements, required flag and
    aliases, and nothing else is documented; passwords and tokens are no_log. Recurses into suboptions."""
    assert set(documented) == set(spec), where
    for name, option in spec.items():
        doc = documented[name]
        here = "%s.%s" % (where, name)
        assert doc.get("description"), here
        assert doc["type"] == option.get("type", "str"), here
        assert doc.get("default") == option.get("default"), here
        assert doc.get("choices") == option.get("choices"), here
        assert doc.get("elements") == option.get("elements"), here
        assert bool(doc.get("required")) == bool(option.get("required")), here
        assert sorted(doc.get("aliases") or []) == sorted(option.get("aliases") or []), here
        assert bool(doc.get("no_log")) is False, here
        if name.endswith(("password", "token")):
            assert option.get("no_log") is True, here
        if option.get("options") or doc.get("suboptions"):
            compare(doc["suboptions"], option["options"], here)
