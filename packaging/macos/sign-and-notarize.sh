#!/usr/bin/env bash
# Sign, notarize and package taskclf.app into a .dmg. macOS grants Accessibility and Input
# Monitoring per code signature: unsigned builds lose the permissions on every update, so sign.
# Needs: MACOS_SIGN_IDENTITY, MACOS_NOTARY_PROFILE (a notarytool keychain profile). Skips signing
# (with a warning) when they are absent, still producing an unsigned .dmg.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
APP="$ROOT/dist/taskclf.app"
DMG="$ROOT/dist/taskclf.dmg"
if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
  codesign --deep --force --options runtime --timestamp \
    --entitlements "$ROOT/packaging/macos/entitlements.plist" \
    --sign "$MACOS_SIGN_IDENTITY" "$APP"
else
  echo "warning: MACOS_SIGN_IDENTITY not set; building an unsigned app" >&2
fi
hdiutil create -volname taskclf -srcfolder "$APP" -ov -format UDZO "$DMG"
if [ -n "${MACOS_SIGN_IDENTITY:-}" ] && [ -n "${MACOS_NOTARY_PROFILE:-}" ]; then
  xcrun notarytool submit "$DMG" --keychain-profile "$MACOS_NOTARY_PROFILE" --wait
  xcrun stapler staple "$DMG"
fi
