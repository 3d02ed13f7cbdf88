#!/usr/bin/env bash
# Builds the binary and the image, starts the 8 containers of compose.yaml,
# waits until every one is healthy, uploads a demo file and fetches it back
# through the VIP. Prints the addresses to use.
set -euo pipefail
# shellcheck source=compose/lib.sh source-path=SCRIPTDIR/..
. "$(dirname "$0")/lib.sh"
"$compose_dir/image.sh"
compose up -d --wait --wait-timeout 180

conf="$compose_dir/.stage/client.conf"
write_client_conf "$conf"
demo="$compose_dir/.stage/demo.txt"
echo "hello from the ferrodfs compose cluster, $(date -u +%FT%TZ)" >"$demo"
id="$("$ferrodfs_bin" upload -c "$conf" "$demo")"
url="http://$FERRODFS_NET.130:88/dfs/$id"
for _ in $(seq 60); do
    if body="$(python3 -c 'import sys,urllib.request;sys.stdout.write(urllib.request.urlopen(sys.argv[1],timeout=3).read().decode())' "$url" 2>/dev/null)" &&
        [[ "$body" == "$(cat "$demo")" ]]; then
        break
    fi
    body=""
    sleep 1
done
[[ -n "$body" ]] || { echo "up.sh: the demo file is not served at $url" >&2; exit 1; }

n="$FERRODFS_NET"
cat <<TEXT
ferrodfs compose cluster is up (project $(compose config --format json | python3 -c 'import json,sys;print(json.load(sys.stdin)["name"])'), network $n.0/24)
  VIP      http://$n.130:88/dfs/<file ID>      (front lb on lb1 $n.131 / lb2 $n.132, VRRP)
  edge     http://$n.11:8000/<file ID>  http://$n.12:8000/<file ID>
  tracker  $n.11:22122  $n.12:22122
  storage  group1 $n.21 $n.22   group2 $n.31 $n.32   (:23000, HTTP :8888)
client config: $conf
demo upload:   $id
served at:     $url
TEXT
