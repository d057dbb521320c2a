"""Monitoring reads, by job: ``drift`` (with segments and attribution), ``outcomes`` (performance
and fairness), ``alerts``, ``overview``."""
