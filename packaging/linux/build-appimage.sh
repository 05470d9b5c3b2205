#!/usr/bin/env bash
# AppImage recipe: wraps the onedir bundle from `python packaging/build.py agent`.
# Needs appimagetool on PATH (not available in CI here; the release workflow installs it).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
APPDIR="$ROOT/dist/taskclf.AppDir"
rm -rf "$APPDIR"
mkdir -p "$APPDIR/usr/lib" "$APPDIR/usr/share/applications"
cp -a "$ROOT/dist/taskclf-tray" "$APPDIR/usr/lib/taskclf-tray"
cp "$ROOT/packaging/linux/AppRun" "$APPDIR/AppRun"
cp "$ROOT/packaging/linux/taskclf.desktop" "$APPDIR/taskclf.desktop"
cp "$ROOT/packaging/linux/taskclf.desktop" "$APPDIR/usr/share/applications/"
python3 -m agent.tray.icon --write-png "$APPDIR/taskclf.png" --size 256 || true
appimagetool "$APPDIR" "$ROOT/dist/taskclf-$(uname -m).AppImage"
