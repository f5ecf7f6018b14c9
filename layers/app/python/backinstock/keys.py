"""The main table's key and TTL attribute names: what repositories need of the table's shape. `infra_spec` (the
resources' full shapes, for CDK and the local backend) builds on them; a function that only reads and writes items
never imports the resource specs (import time is cold start)."""

PK = "PK"
SK = "SK"
TTL_ATTRIBUTE = "expires_at"
# Set by `backinstock migrate keys` on a row it moves to its issue-23 key (the old row and its copy, until the move
# is done: repositories/migration.py): the stream's INSERT of the copy and REMOVE of the old row count nothing
# (services/rollups.change_of).
RELOCATED = "relocated"
