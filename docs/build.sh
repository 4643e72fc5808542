#!/usr/bin/env bash
# Build the course's static site from the committed notebooks, without executing them.
#
#   bash docs/build.sh            -> docs/_build/html/index.html (the README is the front page)
#   bash docs/build.sh OUT_DIR    -> OUT_DIR/index.html (tests/test_site.py builds into a temporary folder)
#   PYTHON=/path/to/python bash docs/build.sh   -> the interpreter whose Sphinx runs (default: python)
#
# Sphinx reads documents only below its source folder, while the README and the notebooks live above
# docs/. So the source folder is a throw-away tree laid out like the repository: copies of README.md,
# docs/index.md and docs/README.md (copies, not links: MyST resolves the README's relative links from the
# including file's real path), links docs/screenshots and docs/notebooks -> notebooks/. conf.py is read
# from docs/. Warnings are errors (-W). Nothing is downloaded and nothing is executed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(mkdir -p "${1:-$ROOT/docs/_build/html}" && cd "${1:-$ROOT/docs/_build/html}" && pwd)"
STAGE="$(mktemp -d "${TMPDIR:-/tmp}/tinybert-site.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT

mkdir "$STAGE/docs"
cp "$ROOT/README.md" "$STAGE/README.md"
cp "$ROOT/docs/index.md" "$ROOT/docs/README.md" "$STAGE/docs/"
ln -s "$ROOT/docs/screenshots" "$STAGE/docs/screenshots"
ln -s "$ROOT/notebooks" "$STAGE/docs/notebooks"

"${PYTHON:-python}" -m sphinx -W --keep-going -q -b html -c "$ROOT/docs" -d "$STAGE/doctrees" "$STAGE/docs" "$OUT"
echo "site: $OUT/index.html"
