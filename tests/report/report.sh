#!/usr/bin/env bash
# The report (tools/report.sh, tools/report.py) on a small oncovq run: every expected figure is a
# valid PNG with real content (not blank) and an SVG, index.html references each of them and
# figures.tsv lists them; --out writes elsewhere; a summary.tsv with several cancers alone gives
# the pan-cancer heatmaps; a directory without run output is refused (exit 2); without a Python
# that has numpy, h5py and matplotlib the tool exits 4 naming the Debian packages. Headless.
# Usage: report.sh OVQ H5SAME SCRATCH_DIR
OVQ=$1 H5SAME=$2 DIR=$3
here="$(cd "$(dirname "$0")" && pwd)"
REPORT="$here/../../tools/report.sh"
source "$here/../cli/lib.sh"
rm -rf "$DIR" && mkdir -p "$DIR"
cd "$DIR" || exit 1
export MPLBACKEND=Agg
unset DISPLAY

# A Python with the report's modules, for the PNG checks below (the one report.sh would use).
PY=""
for c in ${OVQ_PYTHON:-} /usr/bin/python3 python3; do
  if "$c" -c 'import numpy, h5py, matplotlib' >/dev/null 2>&1; then PY=$c; break; fi
done
if [ -z "$PY" ]; then
  echo "FAIL no Python 3 with numpy, h5py and matplotlib: install python3-matplotlib" \
       "python3-h5py python3-numpy (tools/setup.sh does)"
  exit 1
fi

# A small run: 4 clustering methods (SNF on raw for the comparison figure), a GMT for the
# enrichment dot plots, loose DE / network thresholds so the small cohort has DE genes and edges;
# run.report = no: the report is run below by hand.
expect_ok 2 synth --cancers BRCA --scale 0.05 --genes 300 --mirnas 30 --out c.h5
awk 'BEGIN { for (s = 0; s < 12; s++) { printf "SET%02d\tsynthetic set", s
             for (i = 1 + 20 * s; i <= 40 + 20 * s; i++) printf "\tSG%05d", i; printf "\n" } }' \
  >sets.gmt
expect_ok 2 run --cohort c.h5 --set model.hidden=64,32 --set model.latent=8 \
  --set model.codebook_size=8 --set train.batch=32 --set train.epochs=10 \
  --set cluster.methods=kmeans,gmm,snf,hclust --set cluster.k_min=2 --set cluster.k_max=4 \
  --set cluster.pca_components=8 --set eval.gmt=sets.gmt --set eval.de_lfc=0.3 \
  --set eval.network_r=0.25 --set run.report=no --out r

start=$(date +%s)
timeout 600 bash "$REPORT" r >rep.out 2>rep.err
RC=$?
secs=$(($(date +%s) - start))
cp rep.out out; cp rep.err err
[ $RC -eq 0 ] && ok "report.sh r: exit 0 in ${secs} s ($(tail -1 rep.err))" \
  || bad "report.sh r exited $RC"
grep -q "failed" rep.err && bad "a figure failed: $(grep failed rep.err | head -3)"

FIGS=(metrics_bars metrics_heatmaps pca_labels vqvae_methods vqvae_vs_raw tsne km_published
      training)
for fs in raw pca ae vae vqvae; do FIGS+=(flow_$fs km_$fs volcano_$fs enrichment_$fs); done
for fs in ae vae vqvae; do FIGS+=(latent_heatmap_$fs latent_corr_$fs); done
nets=$(cd r/report 2>/dev/null && ls network_*.png 2>/dev/null | sed 's/\.png$//')
[ -n "$nets" ] && ok "miRNA-gene network figures: $(echo $nets)" || bad "no network_*.png"
FIGS+=($nets)

# check_png FILE...: PNG signature, IHDR size, and content: non-white pixels, distinct colours
# and coloured (non-grey) pixels, i.e. data drawn in the palette: an empty axes with black text
# and grey antialiasing has none (measured: 0 %; the report's sparsest figure, a volcano plot,
# 0.5 %). One line per file: OK/BAD name details.
check_png() {
  "$PY" - "$@" <<'EOF'
import struct, sys
import numpy as np
import matplotlib.image as mpimg
for f in sys.argv[1:]:
    try:
        head = open(f, "rb").read(33)
        if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
            print("BAD %s: not a PNG" % f); continue
        w, h = struct.unpack(">II", head[16:24])
        img = mpimg.imread(f)
        rgb = img[..., :3] if img.ndim == 3 else np.stack([img] * 3, -1)
        if img.dtype != np.uint8:
            rgb = np.round(rgb * 255).astype(np.uint8)
        ink = float(np.mean(np.any(rgb < 235, axis=-1)))
        c = rgb.astype(np.int16)
        chroma = float(np.mean((c.max(axis=-1) - c.min(axis=-1)) > 40))
        colours = len(np.unique(rgb.reshape(-1, 3)[::7], axis=0))
        good = w >= 600 and h >= 300 and (w, h) == (img.shape[1], img.shape[0]) \
            and ink > 0.01 and chroma > 0.002 and colours >= 12
        print("%s %s: %dx%d px, %.1f %% ink, %.1f %% coloured, %d colours" % (
            "OK " if good else "BAD", f, w, h, 100 * ink, 100 * chroma, colours))
    except Exception as e:
        print("BAD %s: %s" % (f, e))
EOF
}

missing=()
for f in "${FIGS[@]}"; do
  [ -s "r/report/$f.png" ] && [ -s "r/report/$f.svg" ] || missing+=("$f")
done
[ ${#missing[@]} -eq 0 ] && ok "all ${#FIGS[@]} expected figures written as PNG and SVG" \
  || bad "missing figures: ${missing[*]}"
check_png $(for f in "${FIGS[@]}"; do [ -s "r/report/$f.png" ] && echo "r/report/$f.png"; done) \
  >png.txt
nbad=$(grep -c '^BAD' png.txt)
[ "$nbad" -eq 0 ] && ok "$(grep -c '^OK' png.txt) PNGs valid and not blank (e.g. $(grep tsne.png png.txt | cut -d' ' -f3-))" \
  || bad "$nbad bad PNGs: $(grep '^BAD' png.txt | head -5)"
head -c 200 r/report/metrics_bars.svg | grep -q "<svg" && ok "SVG files are SVG" \
  || bad "metrics_bars.svg is not an SVG"

# index.html references every figure (PNG shown, SVG linked); figures.tsv lists them.
unref=()
for f in "${FIGS[@]}"; do
  grep -q "src='$f.png'" r/report/index.html && grep -q "href='$f.svg'" r/report/index.html \
    || unref+=("$f")
done
[ ${#unref[@]} -eq 0 ] && ok "index.html shows every figure and links its SVG" \
  || bad "index.html lacks: ${unref[*]}"
listed=$(($(wc -l <r/report/figures.tsv) - 1))
[ "$listed" -eq ${#FIGS[@]} ] && ok "figures.tsv lists $listed figures" \
  || bad "figures.tsv lists $listed figures, expected ${#FIGS[@]}"
grep -q "<table>" r/report/index.html && grep -q "<td>VQ-VAE</td>" r/report/index.html \
  && ok "index.html has the summary table" || bad "no summary table in index.html"
grep -q "iClusterBayes, consensus NMF" r/report/index.html \
  && ok "index.html notes the methods not run on raw data" || bad "no note on missing methods"

# --out elsewhere (PNG only, low resolution: quick).
timeout 300 bash "$REPORT" r --out elsewhere --formats png --dpi 80 --quiet >out 2>err
RC=$?
[ $RC -eq 0 ] && [ -s elsewhere/index.html ] && [ -s elsewhere/km_vqvae.png ] \
  && [ ! -e elsewhere/km_vqvae.svg ] && ok "--out elsewhere --formats png" \
  || bad "--out: exit $RC"

# A sweep-like directory: only a summary.tsv with several cancers -> pan-cancer heatmaps.
mkdir -p pan
awk -F'\t' -v OFS='\t' 'NR == 1 { print; next }
  { n = split("BRCA GBM LGG", cs, " "); for (i = 1; i <= n; i++) { $1 = cs[i]; print } }' \
  r/summary.tsv >pan/summary.tsv
timeout 300 bash "$REPORT" pan >out 2>err
RC=$?
if [ $RC -eq 0 ]; then
  check_png pan/report/pancancer_logrank.png pan/report/pancancer_nmi.png >png.txt
  if grep -q '^BAD' png.txt || [ "$(grep -c '^OK' png.txt)" -ne 2 ]; then
    bad "pan-cancer figures: $(cat png.txt)"
  else
    ok "several cancers in summary.tsv: pan-cancer heatmaps (no results.h5 needed)"
  fi
  grep -q "src='pancancer_nmi.png'" pan/report/index.html \
    && grep -q "No results.h5" pan/report/index.html && ok "pan-cancer page notes what is absent" \
    || bad "pan-cancer index.html incomplete"
else
  bad "report on a summary-only directory exited $RC"
fi

# A real sweep (two cancers, tiny models): pan-cancer heatmaps, pancancer.tsv and tasks.tsv on
# the page, and with --tasks best the reports of the tasks pancancer.tsv names, linked.
expect_ok 2 synth --cancers BRCA,GBM --scale 0.05 --genes 300 --mirnas 30 --out s.h5
expect_ok 2 sweep --cohort s.h5 --set model.latent=8 --set train.batch=32 \
  --set cluster.methods=kmeans,hclust --set cluster.k_max=3 --set cluster.pca_components=8 \
  --set eval.tsne=false --set run.report=no --set sweep.models=vqvae --set sweep.codebook_size=8 \
  --set sweep.latent=8 --set sweep.epochs=3 --set sweep.hidden=64,32 --out sw
timeout 300 bash "$REPORT" sw --formats png --dpi 80 --tasks best >out 2>err
RC=$?
best=$(awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /_task$/) c[i] = 1; next }
                   { for (i in c) print $i }' sw/pancancer.tsv | sort -u)
nbest=$(echo "$best" | grep -c .)
nlinks=$(grep -o "href='../tasks/[^']*/report/index.html'" sw/report/index.html | sort -u | wc -l)
if [ $RC -eq 0 ] && [ -s sw/report/pancancer_logrank.png ] && [ -s sw/report/pancancer_nmi.png ] \
   && grep -q "<th>best_p_task</th>" sw/report/index.html && [ "$nbest" -ge 2 ] \
   && [ "$nlinks" -eq "$nbest" ]; then
  ok "sweep: pan-cancer heatmaps, pancancer.tsv, and $nbest best tasks' reports linked"
else
  bad "sweep report: exit $RC, $nbest best tasks, $nlinks links"
fi
for t in $best; do
  [ -s "sw/tasks/$t/report/index.html" ] && [ -s "sw/tasks/$t/report/km_published.png" ] \
    || bad "no report for sweep task $t"
done

# Refusals.
mkdir -p empty
bash "$REPORT" empty >out 2>err
RC=$?
[ $RC -eq 2 ] && grep -q "neither results.h5 nor summary.tsv" err \
  && ok "directory without run output: exit 2" || bad "empty directory: exit $RC"
OVQ_PYTHON=/bin/false bash "$REPORT" r >out 2>err
RC=$?
[ $RC -eq 4 ] && grep -q "python3-matplotlib python3-h5py python3-numpy" err \
  && ok "no usable Python: exit 4 naming the Debian packages" \
  || bad "no usable Python: exit $RC"

finish
