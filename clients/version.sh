#!/usr/bin/env bash
# The one version of the contract and every SDK is the repository's VERSION file (MSBuild reads it for the NuGet
# packages). The ecosystems that cannot read it keep a copy; this checks every copy, and `clients/version.sh set X.Y.Z`
# writes them all (then add a CHANGELOG.md section).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"
version_file="$REPO_ROOT/VERSION"

# Each copy: FILE and a sed -E expression whose group 1 is the version.
copies=(
  "clients/typescript/package.json|s/^  \"version\": \"([^\"]+)\",$/\\1/p"
  "clients/typescript/package-lock.json|2,4s/^  \"version\": \"([^\"]+)\",$/\\1/p"
  "clients/python/pyproject.toml|s/^version = \"([^\"]+)\"$/\\1/p"
  "clients/python/src/mailgrpc_client/__init__.py|s/^__version__ = \"([^\"]+)\"$/\\1/p"
  "clients/go/mailgrpc/client.go|s/^const Version = \"([^\"]+)\"$/\\1/p"
)
# READMEs name the version in their install commands.
readmes=(clients/dotnet/README.md clients/typescript/README.md clients/python/README.md clients/go/README.md)

if [[ ${1:-} == set ]]; then
  new="${2:?usage: version.sh set X.Y.Z}"
  old="$(tr -d '[:space:]' <"$version_file")"
  printf '%s\n' "$new" >"$version_file"
  for entry in "${copies[@]}" "${readmes[@]}"; do
    sed -i "s/${old//./\\.}/$new/g" "$REPO_ROOT/${entry%%|*}"
  done
  echo "version $old -> $new; add a CHANGELOG.md section"
  exit 0
fi

version="$(tr -d '[:space:]' <"$version_file")"
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]] || { echo "VERSION '$version' is not a semantic version" >&2; exit 1; }
status=0
for entry in "${copies[@]}"; do
  file="${entry%%|*}" expr="${entry#*|}"
  found="$(sed -nE "$expr" "$REPO_ROOT/$file" | head -n 1)"
  if [[ $found != "$version" ]]; then
    echo "$file has version '${found:-none}', VERSION says $version: write $version there (clients/version.sh set X.Y.Z changes every copy at once)" >&2
    status=1
  fi
done
for readme in "${readmes[@]}"; do
  if grep -oE '(MailGrpc\.Client --version |mailgrpc[-_]client-|mailgrpc-go-|clients/go@v)[0-9]+\.[0-9]+\.[0-9]+' "$REPO_ROOT/$readme" | grep -v -- "$version\$" >&2; then
    echo "$readme names another version than $version" >&2
    status=1
  fi
done
grep -q "^## \[$version\]" "$REPO_ROOT/CHANGELOG.md" || { echo "CHANGELOG.md has no section '## [$version]'" >&2; status=1; }
((status)) || echo "one version: $version (VERSION, npm, Python, Go, READMEs, CHANGELOG)"
exit "$status"
