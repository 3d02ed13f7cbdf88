#!/usr/bin/env bash
# Installs the system packages ferrodfs needs beyond the Rust toolchain,
# Python, Docker and git (Debian/Ubuntu, apt). Installs only what is missing.
#   tests/prereqs.sh              to build (cmake: pingora's zlib-ng)
#   tests/prereqs.sh --tests      also what tests/run.sh needs (keepalived, iproute2, python3-venv,
#                                 chromium for the status page test; prometheus for promtool, if available)
#   tests/prereqs.sh --appliance  also what the Ansible test needs (debootstrap)
set -euo pipefail
tests=false appliance=false
for a in "$@"; do
    case "$a" in
        --tests) tests=true ;;
        --appliance) tests=true appliance=true ;;
        *) echo "usage: $0 [--tests|--appliance]" >&2; exit 2 ;;
    esac
done

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v cc >/dev/null || need+=(gcc)
if $tests; then
    command -v keepalived >/dev/null || need+=(keepalived)
    command -v ip >/dev/null || need+=(iproute2)
    command -v python3 >/dev/null || need+=(python3)
    python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)
    command -v chromium >/dev/null || need+=(chromium)
fi
# Wanted, not needed: the alert rules are checked with promtool when it
# can be installed.
want=()
if $tests; then
    command -v promtool >/dev/null || want+=(prometheus)
fi
if $appliance; then
    command -v debootstrap >/dev/null || need+=(debootstrap)
fi
((${#need[@]} + ${#want[@]})) || exit 0

if ! command -v apt-get >/dev/null; then
    echo "missing: ${need[*]} (install them with your package manager)" >&2
    exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "missing: ${need[*]}; run as root or install sudo" >&2; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
if ((${#need[@]})); then
    echo "installing: ${need[*]}" >&2
    "${sudo[@]}" apt-get install -y -qq "${need[@]}"
fi
if ((${#want[@]})); then
    echo "installing: ${want[*]}" >&2
    "${sudo[@]}" apt-get install -y -qq "${want[@]}" ||
        echo "could not install ${want[*]}: promtool checks will be skipped" >&2
fi
