#!/bin/sh
# Installs the Debian packages the tests need and a fresh machine lacks:
# mandoc (the man pages' lint and HTML), busybox-static (the FROM-scratch
# root), lintian and file (the .deb and the static binaries). As root it
# installs what is missing with apt-get; as anyone else it names it and fails.
set -eu
missing=""
for package in mandoc busybox-static lintian file; do
    dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $package"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "the tests need these Debian packages:$missing (run make check as root, as the tests need)" >&2
    exit 1
fi
echo "installing$missing" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
