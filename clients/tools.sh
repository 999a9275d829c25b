# Shared by the client scripts (sourced, not run). Installs what generation and the smoke tests need on a
# fresh Debian 12 box that has only the .NET SDK, Node, Python and apt, and finds the tools afterwards.

CLIENTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$CLIENTS_DIR/.." && pwd)"
PROTO_ROOT="$REPO_ROOT/protos"
GO_MODULE="github.com/mailgrpc/mailgrpc/clients/go"

# The google.rpc error-detail protos (Status, ErrorInfo, RetryInfo, ...) that the server sends, for the SDKs whose
# runtime lacks them (TypeScript, Python): taken from the NuGet package Google.Api.CommonProtos at the version pinned in
# Directory.Packages.props (the server's own copy), restored here when missing. Go and C# use their ecosystem's package.
googleapis_protos() {
  local version root dir
  version="$(grep -oP 'Include="Google.Api.CommonProtos" Version="\K[^"]+' "$REPO_ROOT/Directory.Packages.props")"
  root="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
  dir="$root/google.api.commonprotos/$version/content/protos"
  if [[ ! -f $dir/google/rpc/error_details.proto ]]; then
    dotnet restore "$REPO_ROOT/src/MailGrpc.Server" -v q >&2 || return 1
  fi
  [[ -f $dir/google/rpc/error_details.proto ]] || { echo "google/rpc protos not found in $dir" >&2; return 1; }
  echo "$dir"
}

# Debian's system Python carries python3-grpcio/python3-protobuf; a pyenv or venv python on PATH may not.
PYTHON="${MAILGRPC_PYTHON:-/usr/bin/python3}"

# Debian packages: protoc and its well-known types, the gRPC Python plugin (grpc_tools' bundled protoc is too old
# for proto3 `optional`), the Python runtime, and the Go toolchain with the protobuf/gRPC plugins and libraries.
# golang-github-golang-protobuf-1-5-dev must be named: grpc-dev accepts 1-3 too, whose APIv1 proto.Marshal (used by
# grpc-go 1.33's codec) panics on the APIv2 messages protoc-gen-go 1.28 generates.
CLIENT_APT_PACKAGES=(
  protobuf-compiler libprotobuf-dev protobuf-compiler-grpc
  python3-grpcio python3-protobuf
  golang-go protoc-gen-go protoc-gen-go-grpc golang-github-golang-protobuf-1-5-dev golang-google-grpc-dev
  golang-google-protobuf-dev golang-google-genproto-dev
  openssl curl # the webhook receiver checks sign and send deliveries with docs/webhooks.md's openssl and curl blocks
)

ensure_apt_packages() {
  local missing=()
  local pkg
  for pkg in "${CLIENT_APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]})); then
    echo "installing Debian packages: ${missing[*]}" >&2
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
  fi
}

# npm ci when node_modules is missing or older than the lock file.
ensure_npm_ci() {
  local dir="$1"
  if [[ ! -f "$dir/node_modules/.package-lock.json" || "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
}

# Go builds offline from Debian's /usr/share/gocode in GOPATH mode: module mode would need the go.mod of every
# module in grpc 1.33's unpruned graph (envoyproxy, cncf/udpa, ...), which Debian does not ship and no proxy serves
# here. A private GOPATH links this module in at its import path.
go_env() {
  local gopath="${MAILGRPC_GOPATH:-${TMPDIR:-/tmp}/mailgrpc-gopath}"
  local link="$gopath/src/$GO_MODULE"
  mkdir -p "$(dirname "$link")"
  if [[ "$(readlink "$link" 2>/dev/null)" != "$CLIENTS_DIR/go" ]]; then
    rm -rf "$link"
    ln -s "$CLIENTS_DIR/go" "$link"
  fi
  export GO111MODULE=off GOFLAGS= GOPROXY=off GOPATH="$gopath:/usr/share/gocode"
  GO_PKG_DIR="$link"
}
