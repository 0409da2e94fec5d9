#!/usr/bin/env bash
# Install the Debian tools that the tests use as independent oracles, when missing.
# Arguments: COMMAND_OR_FILE:PACKAGE ... ; a package is installed when its command (or file) is absent.
set -euo pipefail
missing=()
for pair in "$@"; do
    probe=${pair%%:*}
    pkg=${pair##*:}
    if [[ $probe == /* ]]; then
        [[ -e $probe ]] || missing+=("$pkg")
    else
        command -v "$probe" >/dev/null 2>&1 || missing+=("$pkg")
    fi
done
if ((${#missing[@]} == 0)); then
    exit 0
fi
echo "installing system tools: ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
