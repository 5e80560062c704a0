#!/usr/bin/env bash
# Fetch the console's pinned third-party JS/CSS from the npm registry (package-lock.json pins the
# exact versions and their hashes) and copy them, with their licences, into
# server/console/static/console/vendor/. The copied files are committed: nothing is loaded from a
# CDN at run time, and running the product needs no Node. Run this only to upgrade a version
# (edit server/console/static-src/package.json, run, review the diff, commit).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
src="$repo/server/console/static-src"
out="$repo/server/console/static/console/vendor"
cd "$src"
if [[ -f package-lock.json ]]; then
  npm ci --ignore-scripts --no-audit --no-fund
else
  npm install --ignore-scripts --no-audit --no-fund
fi
rm -rf "$out"
mkdir -p "$out/htmx"
cp node_modules/htmx.org/dist/htmx.min.js "$out/htmx/htmx.min.js"
cp node_modules/htmx.org/LICENSE "$out/htmx/LICENSE"
version="$(node -p "require('./node_modules/htmx.org/package.json').version")"
echo "htmx.org $version (npm registry, see server/console/static-src/package-lock.json)" > "$out/htmx/VERSION"
rm -rf node_modules
echo "Vendored into $out:"
ls -R "$out"
