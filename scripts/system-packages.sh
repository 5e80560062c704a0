#!/usr/bin/env bash
# Install the Debian packages Fixroute needs, only those that are missing. Needs root (or sudo).
set -euo pipefail
packages=(python3-venv libgl1 libegl1 libgl1-mesa-dri libmtdev1 postgresql redis-server chromium gettext fonts-noto-cjk)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# python3.11 itself: the guide's machines have it; plain Debian 12 ships it as python3.
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "Not Debian: install ${missing[*]} yourself" >&2; exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "Installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
