#!/usr/bin/env bash
# Do the install ranges resolve to wheels on a Raspberry Pi's 64-bit OS, and do they refuse the releases known to
# break there? A dry run of `pip install edgedigits[cpu]` for aarch64 (manylinux) on Python 3.11 and 3.13,
# binary wheels only, then the same with onnxruntime 1.21.0 (SIGILL on a Pi 4) and 1.18 (built for numpy 1),
# which must not resolve. Run from the repository root: scripts/check_aarch64_resolves.sh (a minute or two).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
rm -rf dist && "$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir dist . >/dev/null
WHEEL=$(realpath dist/edgedigits-*.whl)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
resolve() {  # $1 python version (3.11), then extra requirements
    local version=$1; shift
    PIP_CONSTRAINT= "$PYTHON" -m pip install --dry-run --ignore-installed --quiet --report "$work/report.json" \
        --only-binary=:all: --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 \
        --python-version "$version" --implementation cp --abi "cp${version/./}" --target "$work/target" \
        "edgedigits[cpu] @ file://$WHEEL" "$@" >"$work/log" 2>&1
}
status=0
for version in 3.11 3.13; do
    if resolve "$version"; then
        echo "aarch64 Python $version: resolves to $("$PYTHON" -c "import json, sys; print(', '.join(i['metadata']['name'] + ' ' + i['metadata']['version'] for i in json.load(open(sys.argv[1]))['install'] if i['metadata']['name'] != 'edgedigits'))" "$work/report.json")"
    else
        echo "aarch64 Python $version: does NOT resolve"; tail -n 3 "$work/log"; status=1
    fi
    if resolve "$version" onnxruntime==1.21.1; then echo "aarch64 Python $version: onnxruntime==1.21.1 accepted (the fixed release next to the broken one)"
    else echo "aarch64 Python $version: onnxruntime==1.21.1 is refused, but it works on a Pi"; status=1; fi
    for broken in onnxruntime==1.21.0 onnxruntime==1.18.1; do
        if resolve "$version" "$broken"; then echo "aarch64 Python $version: $broken is accepted, but it must be refused"; status=1
        else echo "aarch64 Python $version: $broken refused, as it must be"; fi
    done
done
exit $status
