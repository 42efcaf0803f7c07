#!/usr/bin/env bash
# Figures and an HTML page from a run directory of `oncovq run` (or a sweep):
#   tools/report.sh DIR [--out OUTDIR] [--dpi N] [--formats png,svg|png,pdf] [--quiet]
# writes OUTDIR (default DIR/report): index.html, figures.tsv and one PNG (+ SVG) per figure.
# Runs tools/report.py with the first Python 3 that has numpy, h5py and matplotlib: $OVQ_PYTHON
# when set (and only it), else /usr/bin/python3, else python3 on PATH.
# Exit status: 0 done; 1 the page was written but some figures failed; 2 bad usage or no run
# output in DIR; 4 no Python 3 with numpy, h5py and matplotlib (the message names the Debian
# packages to install).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PACKAGES="python3-matplotlib python3-h5py python3-numpy"

if [ $# -lt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  [ $# -lt 1 ] && exit 2
  exit 0
fi

has_modules() {
  "$1" -c 'import sys, numpy, h5py, matplotlib; sys.exit(sys.version_info[0] != 3)' \
    >/dev/null 2>&1
}

candidates=()
if [ -n "${OVQ_PYTHON:-}" ]; then
  candidates=("$OVQ_PYTHON")
else
  [ -x /usr/bin/python3 ] && candidates+=(/usr/bin/python3)
  if p=$(command -v python3 2>/dev/null) && [ "$p" != /usr/bin/python3 ]; then
    candidates+=("$p")
  fi
fi

py=""
for c in "${candidates[@]}"; do
  if has_modules "$c"; then
    py="$c"
    break
  fi
done

if [ -z "$py" ]; then
  {
    echo "report: no Python 3 with numpy, h5py and matplotlib (tried: ${candidates[*]:-none})."
    echo "report: install the Debian packages: $PACKAGES"
    echo "report:   sudo apt-get install -y --no-install-recommends $PACKAGES"
    echo "report: (or run tools/setup.sh), then: tools/report.sh $*"
  } >&2
  exit 4
fi

# Headless; a writable matplotlib cache even without a home directory; no HDF5 file locks (they
# fail on some cluster file systems, and the report only reads).
MPLBACKEND=Agg MPLCONFIGDIR="${MPLCONFIGDIR:-${TMPDIR:-/tmp}/oncovq-mpl-$(id -u)}" \
  HDF5_USE_FILE_LOCKING="${HDF5_USE_FILE_LOCKING:-FALSE}" exec "$py" "$here/report.py" "$@"
