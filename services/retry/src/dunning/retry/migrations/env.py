from dunning.common.migrations import run_env
from dunning.retry.tables import SCHEMA, metadata

run_env(metadata, SCHEMA)
