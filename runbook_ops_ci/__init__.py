"""runbook-ops-run: run a runbook.ops playbook through ansible-runner for CI (see ``cli``)."""
