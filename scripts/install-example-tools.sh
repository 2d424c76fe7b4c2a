#!/usr/bin/env bash
# Install the programs the examples tune, from Debian/Ubuntu packages, if they are missing:
#   examples/ffmpeg   ffmpeg (with libx264)          package ffmpeg
#   examples/rocksdb  db_bench                       package rocksdb-tools
#   examples/hpl      hpcc, mpirun (Open MPI)        package hpcc
#                     OpenBLAS as the system BLAS    package libopenblas0-pthread (~10x faster HPL)
# Idempotent: does nothing (no apt-get update either) when everything is there.
# Needs root, or sudo, to install.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1; }
installed() { [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == *'ok installed'* ]]; }

# (not `ffmpeg ... | grep -q`: grep quitting early would fail the pipe under pipefail)
if ! have ffmpeg || [[ "$(ffmpeg -hide_banner -encoders 2>/dev/null)" != *libx264* ]]; then
  missing+=(ffmpeg)
fi
have db_bench || missing+=(rocksdb-tools)
{ have hpcc && have mpirun; } || missing+=(hpcc)
if have dpkg-query && ! installed libopenblas0-pthread; then
  missing+=(libopenblas0-pthread)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-example-tools: ffmpeg, db_bench, hpcc, mpirun and OpenBLAS are installed"
  exit 0
fi

if ! have apt-get; then
  echo "install-example-tools: missing ${missing[*]}, and there is no apt-get here;" \
       "install them with this system's package manager" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if have sudo; then
    sudo=(sudo)
  else
    echo "install-example-tools: missing ${missing[*]}; run this script as root to install them" >&2
    exit 1
  fi
fi

echo "install-example-tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
${sudo[@]+"${sudo[@]}"} apt-get update -qq
${sudo[@]+"${sudo[@]}"} apt-get install -y -qq "${missing[@]}" >/dev/null
for tool in ffmpeg db_bench hpcc mpirun; do
  have "$tool" || { echo "install-example-tools: $tool is still missing" >&2; exit 1; }
done
echo "install-example-tools: done"
