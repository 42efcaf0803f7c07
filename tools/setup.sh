#!/usr/bin/env bash
# Installs the Debian packages OncoVQ needs to build, run and test; does nothing when all are
# present. Not root, or not Debian/Ubuntu: prints what to install instead.
#   tools/setup.sh            build + run + test packages
#   tools/setup.sh --check    only report what is missing (exit 1 if anything is)
set -euo pipefail

PACKAGES=(
  gcc make cmake pkg-config        # toolchain
  openmpi-bin libopenmpi-dev       # Open MPI (mpirun, mpicc)
  libhdf5-openmpi-dev hdf5-tools   # parallel HDF5 (+ h5dump, h5copy used by the tests)
  libscalapack-openmpi-dev         # ScaLAPACK + BLACS
  libopenblas-dev                  # BLAS / LAPACK
  libgsl-dev                       # special functions and distributions
  zlib1g-dev                       # .gz inputs
  clang-14 libclang-rt-14-dev      # libFuzzer + sanitizers (tools/fuzz.sh)
  slurmctld slurmd slurm-client munge  # single-node SLURM for the job scripts' test (tools/slurm.sh)
  python3-matplotlib python3-h5py python3-numpy  # figures and report (tools/report.sh)
  valgrind                         # memcheck of a small end-to-end run (tools/valgrind.sh)
  btrfs-progs                      # a qgroup-limited loop device for the disk-quota fault test
)
# The comments above are for readers; strip them from the list.
mapfile -t PACKAGES < <(printf '%s\n' "${PACKAGES[@]}" | grep -v '^#')

check_only=0
[ "${1:-}" = "--check" ] && check_only=1

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
else
  echo "setup: this is not a Debian/Ubuntu system (no dpkg). Install the equivalents of:" >&2
  echo "  Open MPI, parallel HDF5 built with MPI (+ tools), ScaLAPACK for Open MPI, OpenBLAS," >&2
  echo "  GSL, zlib, CMake >= 3.25, a C11 compiler, pkg-config; SLURM + munge for the job tests;" >&2
  echo "  Python 3 with numpy, h5py and matplotlib for the figures (tools/report.sh)" >&2
  echo "  (Debian names: ${PACKAGES[*]})" >&2
  exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} required packages are installed"
  exit 0
fi
echo "setup: missing packages: ${missing[*]}"
[ $check_only -eq 1 ] && exit 1

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: not root; install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -q
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
echo "setup: installed ${missing[*]}"
