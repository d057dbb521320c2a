"""Monitoring writes, by job: ``fold`` (the rollups), ``alerts`` (rules, alerts, webhooks), ``demo``
(the demo history)."""
