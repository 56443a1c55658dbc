# Shared by scripts/*: installs what is missing, builds, finds the binary. Source it; do not run it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; return 1; fi
}

APT_UPDATED=0
# ensure_apt PKG...: installs the Debian packages that are not installed yet.
ensure_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  if [ "$APT_UPDATED" = 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The C libraries the server links, and bubblewrap for sandbox isolation.
ensure_build_deps() {
  ensure_apt libuv1-dev libsqlite3-dev libhttp-parser-dev pkg-config bubblewrap python3
  if ! command -v swift >/dev/null; then
    for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do [ -x "$d/swift" ] && export PATH="$d:$PATH"; done
  fi
  command -v swift >/dev/null || { log "the Swift toolchain (swift 5.10 or newer) is required and was not found on PATH"; exit 1; }
}

# build CONFIG: builds the package; prints the binary path.
build() {
  local config="${1:-release}"
  log "building ($config)"
  swift build -c "$config" --product miosa-mock >&2
  echo "$(swift build -c "$config" --show-bin-path)/miosa-mock"
}

# ensure_venv: a venv at .venv with the official Python SDK as the contract-test client.
ensure_venv() {
  local venv="$ROOT/.venv"
  if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv"
    python3 -m venv "$venv" 2>/dev/null || { ensure_apt python3-venv; rm -rf "$venv"; python3 -m venv "$venv"; }
  fi
  if ! "$venv/bin/python" -c 'import miosa, pytest, httpx; assert miosa.__version__ == "2.19.2"' 2>/dev/null; then
    log "installing miosa==2.19.2, pytest, httpx into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "miosa==2.19.2" "pytest>=8" httpx >&2
  fi
  echo "$venv"
}

# ensure_bench_tools: wrk and nginx-light (Debian) for scripts/bench, and a JRE for WireMock when missing.
ensure_bench_tools() {
  ensure_apt wrk nginx-light
  command -v java >/dev/null || ensure_apt openjdk-17-jre-headless || log "no Java: WireMock will be skipped"
}

# ensure_bench_venv: a separate venv (.venv-bench) with the peers scripts/bench compares against: WireMock
# (the PyPI `wiremock` package bundles the standalone jar), moto's server and localstripe. A peer that cannot
# be installed is left out (the bench says so); the venv path is printed.
ensure_bench_venv() {
  local venv="$ROOT/.venv-bench"
  if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv"
    python3 -m venv "$venv" 2>/dev/null || { ensure_apt python3-venv; rm -rf "$venv"; python3 -m venv "$venv"; }
  fi
  local spec
  for spec in "wiremock:wiremock==2.7.0" "moto:moto[server]==5.2.5" "localstripe:localstripe==1.15.10"; do
    if ! "$venv/bin/python" -c "import ${spec%%:*}" 2>/dev/null; then
      log "installing ${spec#*:} into $venv"
      "$venv/bin/pip" install -q --disable-pip-version-check "${spec#*:}" >&2 || log "could not install ${spec#*:}"
    fi
  done
  echo "$venv"
}
