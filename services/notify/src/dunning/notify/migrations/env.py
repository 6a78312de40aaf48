from dunning.common.migrations import run_env
from dunning.notify.tables import SCHEMA, metadata

run_env(metadata, SCHEMA)
