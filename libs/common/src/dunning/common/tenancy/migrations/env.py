from dunning.common.migrations import run_env
from dunning.common.tenancy import SCHEMA
from dunning.common.tenancy.tables import metadata

run_env(metadata, SCHEMA)
