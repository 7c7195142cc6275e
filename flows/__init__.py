"""Prefect flows: orchestration of pinlake engine calls (no domain logic here)."""
