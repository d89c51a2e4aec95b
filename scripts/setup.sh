#!/usr/bin/env bash
# zkcar set-up for a fresh Debian 12 machine (run as root): installs the Debian
# packages and the pinned npm packages it needs, skipping what is already
# there, then builds. Idempotent, and quick when everything is in place.
#
#   bash scripts/setup.sh            normal build in build/ (zkcar at build/zkcar)
#   bash scripts/setup.sh --asan     also the ASan+UBSan build in build-asan/
#   bash scripts/setup.sh --fuzz     also the libFuzzer targets in build-fuzz/
#   bash scripts/setup.sh --werror   warnings are errors (the test command uses it)
set -euo pipefail
cd "$(dirname "$0")/.."

want_asan=0 want_fuzz=0 werror=OFF
for a in "$@"; do
    case "$a" in
    --asan) want_asan=1 ;;
    --fuzz) want_fuzz=1 ;;
    --werror) werror=ON ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
    esac
done

log() { printf 'setup: %s\n' "$*" >&2; }

# ---- Debian packages ----------------------------------------------------------
apt_packages=(
    build-essential cmake ninja-build pkg-config git ca-certificates
    clang llvm libclang-rt-14-dev           # libFuzzer, BPF objects
    libsecp256k1-dev libzmq3-dev libmsgpack-dev libbpf-dev libcmocka-dev
    nettle-dev libjson-c-dev libmicrohttpd-dev libcurl4-openssl-dev libsqlite3-dev
    systemtap-sdt-dev bpftool
    prometheus                               # promtool, for the metrics tests
    wrk                                      # the HTTP load generator of zkcar bench api
)
command -v node >/dev/null 2>&1 || apt_packages+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)

missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        log "missing Debian packages: ${missing[*]} — run this script as root"
        exit 1
    fi
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- npm packages (pinned in package.json / package-lock.json) ---------------
stamp=node_modules/.zkcar-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing npm packages (anvil, solc, ethers) from package-lock.json"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    echo "$want" > "$stamp"
fi

# ---- build ----------------------------------------------------------------------
jobs=$(nproc)
configure() { # configure DIR [cmake args...]
    local dir=$1; shift
    if [ ! -f "$dir/build.ninja" ] || [ "$(cat "$dir/.zkcar-args" 2>/dev/null)" != "$*" ]; then
        cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
        echo "$*" > "$dir/.zkcar-args"
    fi
    ninja -C "$dir" -j "$jobs" >/dev/null || { ninja -C "$dir" -j 1; exit 1; }
}
log "building build/ (warnings as errors: $werror)"
configure build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZKCAR_WERROR=$werror
if [ $want_asan = 1 ]; then
    log "building build-asan/ (ASan + UBSan)"
    configure build-asan -DCMAKE_BUILD_TYPE=Debug -DZKCAR_WERROR=$werror -DZKCAR_SANITIZE=address,undefined
fi
if [ $want_fuzz = 1 ]; then
    log "building build-fuzz/ (libFuzzer, clang)"
    CC=clang configure build-fuzz -DCMAKE_BUILD_TYPE=Debug -DZKCAR_WERROR=$werror -DZKCAR_FUZZ=ON \
        -DZKCAR_SANITIZE=address,undefined -DCMAKE_C_COMPILER=clang
fi
log "ready: build/zkcar"
