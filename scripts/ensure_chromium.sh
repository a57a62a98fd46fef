#!/usr/bin/env bash
# Make sure Debian's `chromium` and a Korean font are installed for the browser UI test
# (`make test-ui`). Idempotent: exits 0 at once when /usr/bin/chromium is present and fontconfig
# knows a font covering Korean. Without such a font Chromium draws Hangul (ETF and company names)
# as empty boxes in the screenshots. fonts-nanum (Naver's Nanum family, ~10 MB) is used rather
# than fonts-noto-cjk (~60 MB: Chinese and Japanese too). Playwright's own browser download
# (`playwright install`) is not used; the test launches this system binary instead.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
KOREAN_FONT_PACKAGE=fonts-nanum

has_korean_font() {
    command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=ko family 2>/dev/null)" ]
}

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
has_korean_font || missing+=("$KOREAN_FONT_PACKAGE" fontconfig)

if [ ${#missing[@]} -eq 0 ]; then
    echo "chromium present: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    echo "Korean font present: $(fc-list :lang=ko family | head -n 1)"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
else
    echo "error: missing ${missing[*]}; installing needs root (no sudo available)" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing ${missing[*]} and apt-get is not available; install Chromium and a Korean font" \
         "(e.g. Nanum or Noto Sans CJK KR) yourself" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

if [ ! -x "$CHROMIUM" ]; then
    echo "error: installed the chromium package but $CHROMIUM is still missing" >&2
    exit 1
fi
if ! has_korean_font; then
    echo "error: installed $KOREAN_FONT_PACKAGE but fontconfig lists no font for Korean (fc-list :lang=ko)" >&2
    exit 1
fi
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
echo "Korean font installed: $(fc-list :lang=ko family | head -n 1)"
