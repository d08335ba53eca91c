#!/usr/bin/env bash
# Installs the Debian packages codebegenfs builds and runs with, if any is missing.
set -euo pipefail

packages=(libfuse3-dev fuse3 libcurl4-openssl-dev zlib1g-dev libsqlite3-dev pkg-config attr curl git rsync python3 python3-pip systemd)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# tuspy: a TUS client nobody here wrote, for the resumable-upload compatibility test. Debian's python3 is
# externally managed (PEP 668), hence --break-system-packages; installed only when it is missing.
if ! /usr/bin/python3 -c 'import tusclient' 2>/dev/null; then
    echo "installing: tuspy (PyPI)"
    pip_user=""
    [ "$(id -u)" -eq 0 ] || pip_user="--user"
    /usr/bin/python3 -m pip install -q --break-system-packages $pip_user tuspy
fi
if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then
    echo "note: add /opt/swift/usr/bin to PATH" >&2
fi
