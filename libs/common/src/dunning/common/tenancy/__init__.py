"""Tenants, their API keys and their processor secrets (schema ``tenancy``, see ADR 0002)."""

from dunning.common.migrations import MigrationSet

SCHEMA = "tenancy"
MIGRATIONS = MigrationSet(schema=SCHEMA, script_location="dunning.common.tenancy:migrations")

__all__ = ["MIGRATIONS", "SCHEMA"]
