#!/usr/bin/env bash
# axe-core (npm) into a project-local folder for the browser tests: .cache/axe/node_modules/axe-core/axe.min.js
set -euo pipefail
cd "$(dirname "$0")/.."
target=.cache/axe
if [ -f "$target/node_modules/axe-core/axe.min.js" ]; then
    exit 0
fi
mkdir -p "$target"
npm install --silent --no-audit --no-fund --prefix "$target" axe-core@4.14 >/dev/null
echo "axe-core: $target/node_modules/axe-core/axe.min.js"
