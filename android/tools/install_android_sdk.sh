#!/usr/bin/env bash
# Install the Android build tools that android/tools/apk.py needs, from Debian only.
#
#   bash android/tools/install_android_sdk.sh        # idempotent; a second run does nothing
#
# - From the machine's own Debian 12 (bookworm) sources, with apt-get (needs root):
#   aapt and aapt2, zipalign, apksigner.
# - From Debian 11 (bullseye), which is the last release that has them: dx (dalvik-exchange)
#   and android.jar API 23 (android-sdk-platform-23 / libandroid-23-java). They are fetched
#   with a PRIVATE apt sources list (nothing is added to /etc/apt), each .deb is checked
#   against the sha256 pinned below, and they are unpacked (not installed) under
#   android/.cache/debian/root; apk.py reads them from there.
#
# Environment: ANDROID_DEBIAN_ROOT overrides the unpack folder.
set -euo pipefail

ANDROID_DIR="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${ANDROID_DIR}/.cache/debian"
ROOT="${ANDROID_DEBIAN_ROOT:-${CACHE}/root}"
STAMP="${ROOT}/.installed"

# package=version sha256 (Debian 11 main, architecture all)
BULLSEYE_DEBS=(
  "dalvik-exchange=10.0.0+r36-1 8fc128db7c27253d963eb9b33de79b197162a4749d2ba69019b2fd0664cbd7fe"
  "android-sdk-platform-23=6.0.1+r72-6 fd30c49c709b0cb72184a5d1676782208f023bf432d64bd5a3b2e2f4dbaf5b1f"
  "libandroid-23-java=6.0.1+r72-6 8af1b6df556971dda0a6da3536ea526a838e0c363afcdd454213d8bce94793e3"
)
BOOKWORM_TOOLS=(aapt aapt2 zipalign apksigner)

fail() { echo "error: $*" >&2; exit 1; }

install_bookworm_tools() {
  local missing=()
  for tool in "${BOOKWORM_TOOLS[@]}"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  [ "${#missing[@]}" -eq 0 ] && { echo "android-sdk: aapt, aapt2, zipalign, apksigner present"; return; }
  [ "$(id -u)" -eq 0 ] || fail "${missing[*]} missing; run this script as root (apt-get install aapt zipalign apksigner)"
  echo "android-sdk: apt-get install aapt zipalign apksigner (missing: ${missing[*]})"
  if ! apt-get install -y -q --no-install-recommends aapt zipalign apksigner >/dev/null 2>&1; then
    apt-get update -q >/dev/null || fail "apt-get update failed; check the network or /etc/apt sources"
    apt-get install -y -q --no-install-recommends aapt zipalign apksigner >/dev/null \
      || fail "apt-get install aapt zipalign apksigner failed"
  fi
}

# The Debian mirror this machine already uses (first http(s) URI of its apt sources).
debian_mirror() {
  local uri
  uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list | grep -v security | grep -oE 'https?://[^ ]+/debian/?' | head -n1 || true)
  [ -n "$uri" ] || fail "no Debian mirror in /etc/apt sources; add one (e.g. a debian.sources file)"
  echo "${uri%/}"
}

fetch_bullseye_debs() {
  local mirror apt_opts debs="${CACHE}/debs"
  mirror=$(debian_mirror)
  mkdir -p "${CACHE}/lists/partial" "${debs}"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} bullseye main" \
    > "${CACHE}/bullseye.list"
  apt_opts=(-o "Dir::Etc::SourceList=${CACHE}/bullseye.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=${CACHE}/lists" -o Dir::State::Status=/dev/null
            -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root)
  echo "android-sdk: fetching dx and android.jar API 23 from Debian 11 (private sources list)"
  apt-get "${apt_opts[@]}" update -q >/dev/null || fail "apt-get update of Debian 11 (bullseye) failed"
  local entry spec sum file
  for entry in "${BULLSEYE_DEBS[@]}"; do
    spec=${entry% *}; sum=${entry#* }
    file="${debs}/${spec%%=*}_${spec#*=}_all.deb"
    if [ ! -f "$file" ] || ! echo "${sum}  ${file}" | sha256sum -c --quiet - 2>/dev/null; then
      (cd "${debs}" && apt-get "${apt_opts[@]}" download -q "${spec}" >/dev/null) \
        || fail "apt-get download ${spec} failed (is it still in Debian 11?)"
    fi
    echo "${sum}  ${file}" | sha256sum -c --quiet - \
      || fail "${file##*/} does not match its pinned sha256; delete ${debs} and retry"
  done
  rm -rf "${ROOT}.tmp" && mkdir -p "${ROOT}.tmp"
  for file in "${debs}"/*.deb; do dpkg-deb -x "$file" "${ROOT}.tmp"; done
  rm -rf "${ROOT}" && mv "${ROOT}.tmp" "${ROOT}"
}

command -v java >/dev/null || fail "java is not installed; apt-get install openjdk-17-jdk-headless"
install_bookworm_tools
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "${BULLSEYE_DEBS[*]}" ]; then
  echo "android-sdk: dx and android.jar API 23 present in ${ROOT}"
else
  fetch_bullseye_debs
  echo "${BULLSEYE_DEBS[*]}" > "$STAMP"
fi
for f in usr/share/java/com.android.dx.jar usr/share/java/com.android.android-23.jar; do
  [ -s "${ROOT}/$f" ] || fail "${ROOT}/$f is missing after unpacking; delete ${CACHE} and retry"
done
echo "android-sdk: ready (dx: ${ROOT}/usr/share/java/com.android.dx.jar)"
