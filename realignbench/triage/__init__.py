"""Triage (DESIGN §3): the rule, the stage that applies it to a benchmark's pairs (with the
prompt-disjoint split, nested sizes and oracle noise) and the ``realignbench triage`` command."""
