"""Baselines matched to TRACE: Naive Oracle DPO, DPO-Gold, rDPO, U2A (docs/methods.md)."""
