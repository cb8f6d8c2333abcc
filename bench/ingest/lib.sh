# Shared by the ingestion bench scripts (sourced, not run).

# Waits up to 10 s until something listens on 127.0.0.1:$1.
wait_port() {
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing listens on $1" >&2
  return 1
}

# fresh_schema URL SCHEMA: drops and recreates SCHEMA; prints the URL that puts
# insightd in it.
fresh_schema() {
  psql "$1" -q -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $2 CASCADE; CREATE SCHEMA $2" >/dev/null
  echo "${1}$([[ $1 == *\?* ]] && echo '&' || echo '?')options=-csearch_path%3D$2"
}

# drop_schema URL SCHEMA: at exit, whatever happened.
drop_schema() {
  psql "$1" -q -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $2 CASCADE" >/dev/null 2>&1 || true
}

# private_pg PORT DURABLE: a PostgreSQL 15 of its own, initdb'd in a temporary
# folder and started on 127.0.0.1:PORT, with fsync=off unless DURABLE is 1
# (then PostgreSQL's default durability: fsync and synchronous_commit on).
# Sets PG_DIR (its folder: data/, log) and PG_BASE (postgresql://…:PORT, add
# /DB); stop_private_pg stops it and removes the folder.
private_pg() {
  local settings="-p $1 -k PGDIR -c listen_addresses=127.0.0.1 -c max_connections=200"
  [ "$2" -eq 1 ] || settings="$settings -c fsync=off"
  PG_BIN=/usr/lib/postgresql/15/bin
  PG_DIR=$(mktemp -d /tmp/insightd-bench-pg.XXXXXX)
  PG_AS=()
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PG_DIR"; PG_AS=(runuser -u postgres --); fi
  "${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 >/dev/null
  "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 60 \
    -o "${settings/PGDIR/$PG_DIR}" start >/dev/null
  PG_BASE="postgresql://postgres@127.0.0.1:$1"
}
stop_private_pg() {
  [ -n "${PG_DIR:-}" ] || return 0
  "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
  PG_DIR=""
}

# pg_durability URL: how durable the commits of that PostgreSQL are, as the
# figures' label.
pg_durability() {
  local fsync sync
  fsync=$(psql "$1" -Atc "SHOW fsync")
  sync=$(psql "$1" -Atc "SHOW synchronous_commit")
  if [ "$fsync" = on ] && [ "$sync" = on ]; then
    echo "default durability (fsync and synchronous_commit on)"
  else
    echo "fsync=$fsync, synchronous_commit=$sync (not durable: labelled)"
  fi
}
