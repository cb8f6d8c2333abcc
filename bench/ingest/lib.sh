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
