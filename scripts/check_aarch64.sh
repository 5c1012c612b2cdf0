#!/usr/bin/env bash
# Run the runtime on aarch64 (a Raspberry Pi's 64-bit OS) under emulation: build a Debian arm64 root per
# Debian release with debootstrap, run it with qemu-user through binfmt_misc, install the project's wheel with
# [cpu] into a virtualenv there (as the README's Raspberry Pi steps do), copy the models in WITHOUT their
# index.json, and read samples/*.jpg once per CPU model: a Pi 4 (Cortex-A72) and a Pi 5 (Cortex-A76).
# Every sample must read as samples/truth.jsonl says.
#
#   sudo scripts/check_aarch64.sh                 # bookworm (Python 3.11) and trixie (Python 3.13)
#   sudo scripts/check_aarch64.sh trixie          # one release
#
# Needs root (debootstrap, chroot, binfmt_misc), the package registries, and models/*.onnx (make train export).
# Installs debootstrap, qemu-user-static and binfmt-support with apt when missing. Roots are kept in
# $ROOTS (default /var/tmp/edgedigits-arm64) and reused. Slow (emulated pip and Python): see the README.
# Passing here is necessary, not proof: QEMU's Cortex-A72 reports AES/SHA, which a real Pi 4 lacks.
set -euo pipefail

cd "$(dirname "$0")/.."
SUITES=("${@:-bookworm}")
[[ $# -eq 0 ]] && SUITES=(bookworm trixie)
ROOTS=${ROOTS:-/var/tmp/edgedigits-arm64}
CPUS=(cortex-a72 cortex-a76)
MODELS=(cnn-bn-aug.onnx inkseg.onnx seqread.onnx)
PYTHON=${PYTHON:-.venv/bin/python}

say() { printf '== %s\n' "$*"; }
[[ $(id -u) -eq 0 ]] || { echo "check_aarch64.sh: run it as root (debootstrap, chroot, binfmt_misc)" >&2; exit 2; }
for model in "${MODELS[@]}"; do
    [[ -f models/$model ]] || { echo "check_aarch64.sh: models/$model is missing; run \`make train export\` first" >&2; exit 2; }
done

# --- Emulation -----------------------------------------------------------------------------------------------
if ! command -v debootstrap >/dev/null || ! command -v qemu-aarch64-static >/dev/null || ! command -v update-binfmts >/dev/null; then
    apt-get install -y -qq debootstrap qemu-user-static binfmt-support >/dev/null
fi
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
[[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || { echo "check_aarch64.sh: qemu-aarch64 is not registered in binfmt_misc" >&2; exit 2; }

# The host's Debian mirror, package index settings and CA bundle, so that the roots reach the same registries.
MIRROR=$(sed -n 's/^URIs: *\(\S*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
[[ -n $MIRROR ]] || MIRROR=$(sed -n 's/^deb \(\S*\/debian\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n1)
CA=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}

# --- The wheel ------------------------------------------------------------------------------------------------
say "building the wheel"
rm -rf dist
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir dist . >/dev/null
WHEEL=$(ls dist/edgedigits-*.whl)

# An ARM /proc/cpuinfo for each CPU model: under qemu-user, onnxruntime reads the host's x86 one otherwise.
cpuinfo() {  # $1: the CPU part number (0xd08 Cortex-A72, 0xd0b Cortex-A76)
    for core in 0 1 2 3; do
        printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x%s\nCPU part\t: %s\nCPU revision\t: %s\n\n' \
            "$core" "$2" "$3" "$1" "$4"
    done
}

status=0
for suite in "${SUITES[@]}"; do
    root=$ROOTS/$suite
    if [[ ! -x $root/usr/bin/python3 ]]; then
        say "$suite: debootstrap arm64 into $root"
        rm -rf "$root"
        mkdir -p "$root"
        debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
            "$suite" "$root" "$MIRROR" >"$ROOTS/$suite.debootstrap.log" 2>&1
    fi
    mkdir -p "$root/check/models" "$root/check/samples" "$root/check/dist"
    cp "$CA" "$root/check/ca.crt"
    rm -f "$root"/check/dist/*.whl "$root"/check/models/*
    cp "$WHEEL" "$root/check/dist/"
    for model in "${MODELS[@]}"; do cp "models/$model" "$root/check/models/"; done  # no index.json: on purpose
    cp samples/*.jpg samples/truth.jsonl "$root/check/samples/"
    cpuinfo 0xd08 "fp asimd evtstrm crc32 cpuid" 0x0 3 >"$root/check/cpuinfo-cortex-a72"
    cpuinfo 0xd0b "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" 0x4 1 >"$root/check/cpuinfo-cortex-a76"

    # /sys is not mounted in the root (onnxruntime segfaults on import under qemu-user when it is); the two files
    # its cpuinfo library reads for the core count are laid there instead: four cores, as on a Pi.
    mkdir -p "$root/sys/devices/system/cpu"
    echo 0-3 >"$root/sys/devices/system/cpu/possible"
    echo 0-3 >"$root/sys/devices/system/cpu/present"
    mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
    mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
    trap 'umount -l "$root/proc/cpuinfo" "$root/proc" "$root/dev" 2>/dev/null || true' EXIT
    in_root() { chroot "$root" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 PIP_CERT=/check/ca.crt \
        PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 "$@"; }

    say "$suite: $(in_root python3 --version), installing $(basename "$WHEEL")[cpu] into a virtualenv"
    start=$(date +%s)
    in_root sh -c "rm -rf /check/venv && python3 -m venv /check/venv && /check/venv/bin/pip install --quiet '$(ls "$root"/check/dist/*.whl | sed "s|$root||")[cpu]'"
    say "$suite: installed in $(( $(date +%s) - start )) s: $(in_root /check/venv/bin/python -c 'import numpy, cv2, onnxruntime; print("numpy", numpy.__version__, "opencv", cv2.__version__, "onnxruntime", onnxruntime.__version__)')"
    for cpu in "${CPUS[@]}"; do
        mountpoint -q "$root/proc/cpuinfo" && umount "$root/proc/cpuinfo"
        mount --bind "$root/check/cpuinfo-$cpu" "$root/proc/cpuinfo"
        start=$(date +%s)
        if in_root env QEMU_CPU="$cpu" sh -c 'cd /check && venv/bin/edgedigits read samples/*.jpg --format jsonl' \
                >"$root/check/read-$cpu.jsonl" 2>"$root/check/read-$cpu.log"; then
            took=$(( $(date +%s) - start ))
            if "$PYTHON" - "$root/check/read-$cpu.jsonl" samples/truth.jsonl <<'EOF'
import json, sys
from pathlib import Path
read = {Path(r["source"]).name: r for r in map(json.loads, open(sys.argv[1]))}
truth = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]
right = [t for t in truth if read.get(t["file"], {}).get("lines") == t["lines"]]
for t in truth:
    got = read.get(t["file"], {})
    print(f"   {t['file']}: read {got.get('lines')} (truth {t['lines']}){'' if got.get('lines') == t['lines'] else '  WRONG'}")
print(f"   {len(right)}/{len(truth)} samples read right")
sys.exit(0 if len(right) == len(truth) else 1)
EOF
            then say "$suite $cpu: every sample read right ($took s, with $(grep -o 'reading with.*' "$root/check/read-$cpu.log"))"
            else say "$suite $cpu: FAILED, samples read wrong"; status=1; fi
        else
            say "$suite $cpu: FAILED, edgedigits exited with an error:"; tail -n 5 "$root/check/read-$cpu.log"; status=1
        fi
        umount "$root/proc/cpuinfo"
    done
    umount -l "$root/proc" "$root/dev" 2>/dev/null || true
    trap - EXIT
done
exit $status
