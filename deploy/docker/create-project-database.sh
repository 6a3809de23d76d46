#!/bin/sh
# Run once by the postgres image on an empty data volume: the project database beside Dagster's, owned by the same
# user (docker-compose.yaml mounts this into /docker-entrypoint-initdb.d/).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -c "CREATE DATABASE monitoring OWNER \"$POSTGRES_USER\""
