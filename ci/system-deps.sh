#!/usr/bin/env bash
# Install the Debian packages in ci/apt-packages.txt that are missing, then check that every
# command and file they must provide is there.
#
#   ci/system-deps.sh [setup|test|bench]   only the packages of that target; default: all
#
# A package counts as missing when dpkg does not have it or when something it must provide is
# absent (cups-daemon without cups has a cupsd but no socket backend, for instance). Installing
# needs root and apt-get; without them the script names the packages to install and fails.
set -euo pipefail
list=$(cd "$(dirname "$0")" && pwd)/apt-packages.txt
target=${1:-}
case $target in
    '' | setup | test | bench) ;;
    *) echo "system-deps: unknown target '$target' (setup, test or bench)" >&2; exit 2 ;;
esac

has() { # a command on PATH, or an absolute path
    if [[ $1 == /* ]]; then [[ -e $1 ]]; else command -v "$1" >/dev/null; fi
}

# Packages of the target, and what each must provide.
packages=()
declare -A needs=()
while read -r pkg targets rest; do
    case $pkg in '' | '#'*) continue ;; esac
    if [[ -n $target && ",$targets," != *",$target,"* ]]; then continue; fi
    packages+=("$pkg")
    needs[$pkg]=${rest%%#*}
done <"$list"

absent() { # what the packages in "$@" should provide and do not: "pkg: thing" lines
    local pkg thing
    for pkg in "$@"; do
        for thing in ${needs[$pkg]}; do
            has "$thing" || echo "$pkg: $thing"
        done
    done
}

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
        [[ -n $(absent "$pkg") ]]; then
        missing+=("$pkg")
    fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    echo "system-deps: please install (as root): apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -qq -o DPkg::Lock::Timeout=300)
"${apt[@]}" update
"${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
still=$(absent "${missing[@]}")
if [[ -n $still ]]; then
    # Installed by dpkg's account, files gone: install them again.
    "${apt[@]}" install -y --no-install-recommends --reinstall "${missing[@]}" >/dev/null
    still=$(absent "${missing[@]}")
fi
if [[ -n $still ]]; then
    echo "system-deps: still absent after installing:" >&2
    echo "$still" | sed 's/^/  /' >&2
    exit 1
fi
echo "system-deps: ok"
