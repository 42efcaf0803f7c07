#!/usr/bin/env python3
"""OncoVQ report: figures and one HTML page from a run directory of `oncovq run` (or a sweep).

    python3 tools/report.py DIR [--out OUTDIR] [--dpi 300] [--formats png,svg] [--quiet]

Reads DIR/results.h5 (layout in include/ovq/pipeline.h and include/ovq/evaluate.h),
DIR/summary.tsv, DIR/eval/<fs>_<table>.tsv (used when results.h5 lacks a table) and, for a sweep,
DIR/pancancer.tsv, and writes OUTDIR (default DIR/report) with one PNG (and SVG) per figure,
figures.tsv (name, section, title, files) and index.html showing the figures with the summary
table. A figure whose data is absent is left out with a note on the page. Headless (Agg), no
network. Needs Python 3 with numpy, h5py and matplotlib (Debian: python3-numpy python3-h5py
python3-matplotlib); tools/report.sh finds such an interpreter.

Exit status: 0 all figures written; 1 the page was written but some figures failed (listed on
stderr and on the page); 2 bad usage or nothing to report (no results.h5 and no summary.tsv).
"""

import argparse
import configparser
import csv
import datetime
import html
import math
import os
import sys
import traceback

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, PathPatch, Rectangle  # noqa: E402
from matplotlib.path import Path  # noqa: E402

try:
    import h5py
except ImportError:  # summary-only reports still work; report.sh checks for h5py anyway
    h5py = None

# ---------------------------------------------------------------------------------------------
# Style: paper-sized figures (3.5 in = one column, 7 in = two columns), small readable fonts.
COL1, COL2 = 3.5, 7.0
plt.rcParams.update({
    "font.size": 7, "axes.titlesize": 7.5, "axes.labelsize": 7, "xtick.labelsize": 6,
    "ytick.labelsize": 6, "legend.fontsize": 6, "legend.title_fontsize": 6.5,
    "figure.titlesize": 8.5, "axes.spines.top": False, "axes.spines.right": False,
    "axes.linewidth": 0.6, "xtick.major.width": 0.6, "ytick.major.width": 0.6,
    "lines.linewidth": 1.0, "svg.fonttype": "none", "pdf.fonttype": 42,
    "legend.frameon": False, "figure.dpi": 100,
})

FS_ORDER = ["raw", "pca", "ae", "vae", "vqvae"]
MODEL_FS = ["ae", "vae", "vqvae"]
FS_NAME = {"raw": "Raw", "pca": "PCA", "ae": "AE", "vae": "VAE", "vqvae": "VQ-VAE",
           "published": "Published"}
FS_COLOUR = {"raw": "#8C8C8C", "pca": "#A6761D", "ae": "#1B9E77", "vae": "#E6AB02",
             "vqvae": "#7570B3"}
METHOD_ORDER = ["kmeans", "gmm", "spectral", "snf", "icluster", "nmf", "hclust"]
METHOD_NAME = {"kmeans": "k-means", "gmm": "GMM", "spectral": "Spectral", "snf": "SNF",
               "icluster": "iClusterBayes", "nmf": "Consensus NMF", "hclust": "Hierarchical",
               "label": "Published label"}
# Labels: PAM50 keeps its customary colours (blues, pink, red, green); any other label name gets
# the next colour of LABEL_EXTRA in sorted order. Clusters: index i -> CLUSTER_PALETTE[i], whose
# first colours (orange, purple, teal, brown) avoid the label hues. Unknown: light grey.
PAM50 = ["LumA", "LumB", "Her2", "Basal", "Normal"]
PAM50_COLOUR = {"LumA": "#1F4E99", "LumB": "#6BAED6", "Her2": "#E377C2", "Basal": "#D62728",
                "Normal": "#2CA02C"}
LABEL_EXTRA = ["#1F77B4", "#D62728", "#17BECF", "#393B79", "#BCBD22", "#222222", "#F7B6D2",
               "#C49C94", "#9EDAE5", "#8C564B", "#DBDB8D", "#843C39", "#5254A3", "#AD494A",
               "#6B6ECF", "#637939"]
CLUSTER_PALETTE = ["#E69F00", "#7570B3", "#1B9E77", "#A6761D", "#E7298A", "#666666",
                   "#66A61E", "#D95F02", "#56B4E9", "#CC79A7", "#B2DF8A", "#FB9A99",
                   "#CAB2D6", "#FDBF6F", "#6A3D9A", "#B15928", "#17BECF", "#BCBD22",
                   "#8C564B", "#000000"]
GROUP_PALETTE = ["#66C2A5", "#FC8D62", "#8DA0CB", "#E78AC3", "#A6D854", "#FFD92F", "#E5C494",
                 "#B3B3B3"]
UNKNOWN = "(unlabelled)"
UNKNOWN_COLOUR = "#C8C8C8"


def fs_name(fs):
    return FS_NAME.get(fs, fs)


def method_name(m):
    return METHOD_NAME.get(m, m)


def cluster_colour(c):
    c = int(c)
    return UNKNOWN_COLOUR if c < 0 else CLUSTER_PALETTE[c % len(CLUSTER_PALETTE)]


def ordered(items, order):
    items = list(dict.fromkeys(items))
    return [x for x in order if x in items] + sorted(x for x in items if x not in order)


def fmt_p(p):
    if p is None or not np.isfinite(p):
        return "NA"
    if p >= 0.01:
        return "%.2f" % p
    return "%.3f" % p if p >= 1e-3 else "%.1e" % p


def fnum(x):
    """A summary/TSV cell as float (NaN for empty / NA)."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def decode(a):
    out = []
    for x in np.asarray(a).ravel():
        out.append(x.decode("utf-8", "replace") if isinstance(x, (bytes, np.bytes_)) else str(x))
    return out


def point_size(n):
    return float(np.clip(2400.0 / max(n, 1), 1.5, 14.0))


# ---------------------------------------------------------------------------------------------
# Statistics in numpy: PCA, Kaplan-Meier, log-rank, chi-square tail, average-linkage tree.
def pca2(x):
    x = np.asarray(x, dtype=float)
    x = x[:, np.all(np.isfinite(x), axis=0)]
    xc = x - x.mean(axis=0)
    if xc.shape[1] == 0 or xc.shape[0] < 2:
        return np.zeros((x.shape[0], 2)), np.zeros(2)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    scores = u * s
    if scores.shape[1] < 2:
        scores = np.hstack([scores, np.zeros((scores.shape[0], 1))])
    var = s ** 2
    ratio = var / var.sum() if var.sum() > 0 else np.zeros_like(var)
    ratio = np.concatenate([ratio, np.zeros(2)])[:2]
    # A deterministic sign: the largest |loading| of each score vector is positive.
    for j in range(2):
        i = np.argmax(np.abs(scores[:, j]))
        if scores[i, j] < 0:
            scores[:, j] = -scores[:, j]
    return scores[:, :2], ratio


def kaplan_meier(time, event):
    """Product-limit estimate. Returns (t, S) as a step function starting at (0, 1) and the
    censoring times with the curve's value there."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=int)
    ok = np.isfinite(time)
    time, event = time[ok], event[ok]
    ts = np.unique(time)
    s = 1.0
    tt, ss, ct, cs = [0.0], [1.0], [], []
    for t in ts:
        at = time == t
        n = np.sum(time >= t)
        d = np.sum(event[at] != 0)
        c = np.sum(event[at] == 0)
        if d > 0:
            s *= 1.0 - d / n
            tt.append(t)
            ss.append(s)
        if c > 0:
            ct.append(t)
            cs.append(s)
    return np.array(tt), np.array(ss), np.array(ct), np.array(cs)


def gammaincc(a, x):
    """Regularised upper incomplete gamma Q(a, x) (series / continued fraction)."""
    if x <= 0:
        return 1.0
    gln = math.lgamma(a)
    if x < a + 1:
        ap, term, total = a, 1.0 / a, 1.0 / a
        for _ in range(1000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - gln))
    b, c, d = x + 1 - a, 1e300, 1.0 / (x + 1 - a)
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - gln) * h


def logrank(time, event, group):
    """Multi-group log-rank test: (chi2, df, p)."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=int)
    group = np.asarray(group)
    ok = np.isfinite(time)
    time, event, group = time[ok], event[ok], group[ok]
    gs = sorted(set(group.tolist()))
    if len(gs) < 2:
        return float("nan"), 0, float("nan")
    gi = np.array([gs.index(g) for g in group])
    G = len(gs)
    oe = np.zeros(G)
    v = np.zeros((G, G))
    for t in np.unique(time[event != 0]):
        risk = time >= t
        n = risk.sum()
        dd = np.sum((time == t) & (event != 0))
        ng = np.bincount(gi[risk], minlength=G).astype(float)
        dg = np.bincount(gi[(time == t) & (event != 0)], minlength=G).astype(float)
        oe += dg - dd * ng / n
        if n > 1:
            f = dd * (n - dd) / (n - 1) / n
            v += f * (np.diag(ng) - np.outer(ng, ng) / n)
    try:
        chi2 = float(oe[:-1] @ np.linalg.solve(v[:-1, :-1], oe[:-1]))
    except np.linalg.LinAlgError:
        chi2 = float(oe[:-1] @ np.linalg.pinv(v[:-1, :-1]) @ oe[:-1])
    df = G - 1
    return chi2, df, gammaincc(df / 2.0, chi2 / 2.0)


def average_linkage(d):
    """UPGMA on a symmetric distance matrix: scipy-style linkage rows (a, b, height, size)."""
    n = d.shape[0]
    m = np.array(d, dtype=float)
    np.fill_diagonal(m, np.inf)
    ids = list(range(n))
    size = [1] * n
    active = np.ones(n, dtype=bool)
    z = []
    for step in range(n - 1):
        mm = np.where(active[:, None] & active[None, :], m, np.inf)
        i, j = np.unravel_index(np.argmin(mm), mm.shape)
        i, j = min(i, j), max(i, j)
        h = mm[i, j]
        z.append((ids[i], ids[j], float(h), size[i] + size[j]))
        new = (size[i] * m[i] + size[j] * m[j]) / (size[i] + size[j])
        m[i, :] = new
        m[:, i] = new
        m[i, i] = np.inf
        active[j] = False
        m[j, :] = np.inf
        m[:, j] = np.inf
        size[i] += size[j]
        ids[i] = n + step
    return z


def dendrogram_coords(z, n):
    """Leaf order and the U-shaped segments of a linkage (leaves at 0.5, 1.5, ...)."""
    children = {n + i: (a, b) for i, (a, b, _, _) in enumerate(z)}
    height = {n + i: h for i, (_, _, h, _) in enumerate(z)}
    order = []

    def leaves(node):
        stack = [node]
        while stack:
            x = stack.pop()
            if x < n:
                order.append(x)
            else:
                a, b = children[x]
                stack.append(b)
                stack.append(a)

    if n == 1:
        return [0], []
    leaves(2 * n - 2)
    pos = {leaf: i + 0.5 for i, leaf in enumerate(order)}
    segs = []
    for node in range(n, 2 * n - 1):
        a, b = children[node]
        ha = height.get(a, 0.0)
        hb = height.get(b, 0.0)
        h = height[node]
        pos[node] = (pos[a] + pos[b]) / 2
        segs.append(((pos[a], ha), (pos[a], h), (pos[b], h), (pos[b], hb)))
    return order, segs


# ---------------------------------------------------------------------------------------------
# The run directory.
class Run:
    def __init__(self, d):
        self.dir = d
        self.h5 = None
        self.notes_io = []
        path = os.path.join(d, "results.h5")
        if os.path.exists(path):
            if h5py is None:
                self.notes_io.append("h5py is missing: results.h5 not read")
            else:
                try:
                    self.h5 = h5py.File(path, "r")
                except OSError as e:
                    self.notes_io.append("results.h5 unreadable: %s" % e)
        self.summary, self.summary_cols = self._read_summary()
        self.config = self._read_config()
        self.pancancer = self._read_tsv_rows(os.path.join(d, "pancancer.tsv"))
        self.tasks = self._read_tsv_rows(os.path.join(d, "tasks.tsv"))
        # A sweep directory (oncovq sweep): tasks.tsv, tasks/<id>/ (each a run directory) and a
        # results.h5 with /tasks/<id>/...; the single-run figures belong to the tasks.
        self.is_sweep = self.tasks is not None or self.has("tasks")
        self._tables = {}

    # -- inputs --------------------------------------------------------------------------------
    def _read_tsv_rows(self, path):
        if not os.path.exists(path):
            return None
        with open(path, newline="") as f:
            r = csv.reader(f, delimiter="\t")
            rows = list(r)
        if not rows:
            return None
        return rows

    def _read_summary(self):
        rows = self._read_tsv_rows(os.path.join(self.dir, "summary.tsv"))
        if rows:
            cols = rows[0]
            return [dict(zip(cols, r)) for r in rows[1:] if r], cols
        if self.h5 is not None and "summary" in self.h5:
            g = self.h5["summary"]
            cols = list(g.keys())
            data = {}
            for c in cols:
                a = g[c][()]
                data[c] = decode(a) if a.dtype.kind in "SO" else ["" if not np.isfinite(v) else
                                                                  "%.10g" % v for v in a]
            n = len(data[cols[0]]) if cols else 0
            return [{c: data[c][i] for c in cols} for i in range(n)], cols
        return [], []

    def _read_config(self):
        cp = configparser.ConfigParser(interpolation=None, strict=False)
        if self.h5 is not None and "config" in self.h5.attrs:
            text = self.h5.attrs["config"]
            if isinstance(text, (bytes, np.bytes_)):
                text = text.decode("utf-8", "replace")
            try:
                cp.read_string(str(text))
            except configparser.Error:
                pass
        return cp

    def cfg(self, section, key, default=""):
        try:
            return self.config.get(section, key)
        except (configparser.Error, KeyError):
            return default

    def cfg_float(self, section, key, default):
        try:
            return float(self.cfg(section, key, default))
        except ValueError:
            return default

    def has(self, path):
        return self.h5 is not None and path in self.h5

    def ds(self, path):
        return self.h5[path][()] if self.has(path) else None

    def pca_ratio(self):
        """Explained variance ratio of the raw-expression principal components, or None."""
        r = self.ds("features/pca_variance_ratio")
        return None if r is None or len(r) < 2 else np.asarray(r, dtype=float)

    # -- samples -------------------------------------------------------------------------------
    def labels(self):
        a = self.ds("samples/label")
        if a is None:
            return None
        return [UNKNOWN if x in ("", "NA") else x for x in decode(a)]

    # -- feature sets, methods, seeds ----------------------------------------------------------
    def feature_sets(self):
        fs = [r.get("features", "") for r in self.summary]
        if self.has("eval"):
            fs += list(self.h5["eval"].keys())
        if self.has("clusters"):
            fs += list(self.h5["clusters"].keys())
        fs = [f for f in fs if f and f != "published"]
        return ordered(fs, FS_ORDER)

    def method_order(self):
        cm = [m.strip() for m in self.cfg("cluster", "methods").split(",") if m.strip()]
        return cm + [m for m in METHOD_ORDER if m not in cm]

    def methods(self):
        ms = [r.get("method", "") for r in self.summary if r.get("features") != "published"]
        if self.has("clusters"):
            for fs in self.h5["clusters"]:
                for s in self.h5["clusters"][fs]:
                    ms += list(self.h5["clusters"][fs][s].keys())
        return ordered([m for m in ms if m], self.method_order())

    def first_seed(self):
        seeds = [s.strip() for s in self.cfg("run", "seeds").split(",") if s.strip()]
        if seeds:
            return seeds[0]
        if self.has("clusters"):
            for fs in self.h5["clusters"]:
                ss = sorted(self.h5["clusters"][fs].keys(), key=lambda s: int(s[1:])
                            if s[1:].isdigit() else 0)
                if ss:
                    return ss[0][1:]
        seeds = sorted({r.get("seed", "") for r in self.summary if r.get("seed")}, key=fnum)
        return seeds[0] if seeds else "1"

    def cluster_labels(self, fs, method, k=None):
        base = "clusters/%s/s%s/%s" % (fs, self.first_seed(), method)
        a = self.ds(base + ("/k%d/labels" % k if k else "/labels"))
        return None if a is None else np.asarray(a).astype(int)

    def chosen_k(self, fs, method):
        g = "clusters/%s/s%s/%s" % (fs, self.first_seed(), method)
        if self.has(g) and "k" in self.h5[g].attrs:
            return int(np.asarray(self.h5[g].attrs["k"]).ravel()[0])
        return None

    def cancers(self):
        return ordered([r.get("cancer", "") for r in self.summary if r.get("cancer")], [])

    def best_rows(self, cancer=None):
        """Per (cancer, feature set, method): the row of the first seed at the k the run chose
        (the method's /labels: best mean silhouette); without results.h5, the row with the
        highest silhouette."""
        seed = self.first_seed()
        single = len(self.cancers()) <= 1
        groups = {}
        for r in self.summary:
            if r.get("features") == "published":
                continue
            if cancer is not None and r.get("cancer") != cancer:
                continue
            if r.get("seed") and r.get("seed") != seed and single:
                continue
            groups.setdefault((r.get("cancer", ""), r["features"], r["method"]), []).append(r)
        best = {}
        for key, rows in groups.items():
            k = self.chosen_k(key[1], key[2]) if single else None
            pick = [r for r in rows if k is not None and fnum(r.get("k")) == k]
            if pick:
                best[key] = pick[0]
                continue
            sil = [fnum(r.get("silhouette")) for r in rows]
            sil = [s if np.isfinite(s) else -np.inf for s in sil]
            best[key] = rows[int(np.argmax(sil))]
        return best

    def published_row(self, cancer=None):
        for r in self.summary:
            if r.get("features") == "published" and (cancer is None or r.get("cancer") == cancer):
                return r
        return None

    # -- evaluation tables ---------------------------------------------------------------------
    def table(self, fs, name):
        """The eval table `name` of feature set fs as {column: list[str] | ndarray}, from
        results.h5 (/eval/<fs>/<name>) or DIR/eval/<fs>_<name>.tsv; None when absent."""
        key = (fs, name)
        if key in self._tables:
            return self._tables[key]
        t = None
        path = "eval/%s/%s" % (fs, name)
        if self.has(path) and isinstance(self.h5[path], h5py.Group):
            t = {}
            for c, d in self.h5[path].items():
                if not isinstance(d, h5py.Dataset):
                    continue
                a = d[()]
                t[c] = decode(a) if a.dtype.kind in "SO" else np.asarray(a, dtype=float)
        else:
            rows = self._read_tsv_rows(os.path.join(self.dir, "eval", "%s_%s.tsv" % (fs, name)))
            if rows:
                t = {}
                cols = rows[0]
                for j, c in enumerate(cols):
                    vals = [r[j] if j < len(r) else "" for r in rows[1:]]
                    nums = [fnum(v) for v in vals]
                    if all(np.isfinite(x) or v in ("NA", "", "Inf", "-Inf", "nan")
                           for x, v in zip(nums, vals)) and any(np.isfinite(nums)):
                        t[c] = np.array(nums)
                    else:
                        t[c] = vals
        if t is not None and not t:
            t = None
        self._tables[key] = t
        return t

    def eval_methods(self, fs):
        """Methods evaluated for fs, in the configured order."""
        t = self.table(fs, "agreement") or self.table(fs, "survival") or self.table(fs, "flow")
        if t is None or "method" not in t:
            return []
        return ordered(t["method"], self.method_order())

    def primary_method(self, fs):
        """The method the per-feature-set figures show: the one of the maps/heatmap tables
        (the first evaluated method), else the first evaluated method."""
        for name in ("maps", "latent_heatmap"):
            t = self.table(fs, name)
            if t is not None and "method" in t and len(t["method"]):
                return t["method"][0]
        em = [m.strip() for m in self.cfg("eval", "methods").split(",") if m.strip()]
        ms = self.eval_methods(fs)
        for m in em:
            if m in ms:
                return m
        return ms[0] if ms else None

    def latent(self, model):
        return self.ds("models/%s/latent" % model)


def rows_of(t, col, value):
    return np.array([v == value for v in t[col]], dtype=bool)


# ---------------------------------------------------------------------------------------------
# Colours shared by every figure.
class Palette:
    def __init__(self, label_names):
        names = [x for x in label_names if x != UNKNOWN]
        self.label_order = ordered(names, PAM50)
        extra = [x for x in self.label_order if x not in PAM50_COLOUR]
        self.label_colour = dict(PAM50_COLOUR)
        for i, x in enumerate(sorted(extra)):
            self.label_colour[x] = LABEL_EXTRA[i % len(LABEL_EXTRA)]
        self.label_colour[UNKNOWN] = UNKNOWN_COLOUR

    def label(self, name):
        if name not in self.label_colour:  # a name first seen late: next free colour
            used = len([x for x in self.label_colour if x not in PAM50_COLOUR])
            self.label_colour[name] = LABEL_EXTRA[used % len(LABEL_EXTRA)]
            self.label_order.append(name)
        return self.label_colour[name]

    def sort_labels(self, names):
        names = list(dict.fromkeys(names))
        for n in names:
            self.label(n)
        return [x for x in self.label_order if x in names] + ([UNKNOWN] if UNKNOWN in names
                                                              else [])


# ---------------------------------------------------------------------------------------------
# The report: figures, notes, the HTML page.
class Report:
    def __init__(self, run, out, dpi, formats, quiet):
        self.run = run
        self.out = out
        self.dpi = dpi
        self.formats = formats
        self.quiet = quiet
        self.items = []  # (section, kind, payload)
        self.failed = []
        labels = run.labels() or []
        flow_labels = []
        for fs in run.feature_sets():
            t = run.table(fs, "flow")
            if t is not None:
                flow_labels += [x for x, r in zip(t["label"], t["reference"])
                                if r == "published_label"]
        self.pal = Palette([x for x in labels + flow_labels if x not in ("NA", "")])

    def note(self, section, text):
        self.items.append((section, "note", text))

    def save(self, fig, name, section, title, caption):
        files = []
        for ext in self.formats:
            fn = "%s.%s" % (name, ext)
            fig.savefig(os.path.join(self.out, fn), dpi=self.dpi if ext == "png" else None,
                        facecolor="white")
            files.append(fn)
        w, h = fig.get_size_inches()
        plt.close(fig)
        self.items.append((section, "figure", dict(name=name, title=title, caption=caption,
                                                   files=files, width=w, height=h)))

    def attempt(self, section, what, fn, *args):
        try:
            fn(*args)
        except Exception as e:  # a figure's bug must not cost the rest of the report
            plt.close("all")
            self.failed.append("%s: %s" % (what, e))
            self.note(section, "Figure %s failed: %s" % (what, html.escape(str(e))))
            print("report: figure %s failed:\n%s" % (what, traceback.format_exc()),
                  file=sys.stderr)

    # -- legends -----------------------------------------------------------------------------
    def label_handles(self, names, counts=None):
        hs = []
        for n in self.pal.sort_labels(names):
            txt = n if counts is None else "%s (%d)" % (n, counts.get(n, 0))
            hs.append(Line2D([], [], marker="o", ls="", ms=4, mfc=self.pal.label(n), mec="none",
                             label=txt))
        return hs

    def cluster_handles(self, clusters, counts=None):
        hs = []
        for c in sorted(set(int(x) for x in clusters)):
            txt = ("Cluster %d" % c if c >= 0 else "unknown")
            if counts is not None:
                txt += " (%d)" % counts.get(c, 0)
            hs.append(Line2D([], [], marker="o", ls="", ms=4, mfc=cluster_colour(c), mec="none",
                             label=txt))
        return hs

    def scatter_labels(self, ax, xy, labels):
        labels = np.asarray(labels, dtype=object)
        s = point_size(len(labels))
        for name in [UNKNOWN] + [x for x in self.pal.sort_labels(labels) if x != UNKNOWN]:
            m = labels == name
            if m.any():
                ax.scatter(xy[m, 0], xy[m, 1], s=s, c=self.pal.label(name), lw=0,
                           alpha=0.9, rasterized=True, zorder=1 if name == UNKNOWN else 2)

    def scatter_clusters(self, ax, xy, clusters):
        clusters = np.asarray(clusters, dtype=int)
        s = point_size(len(clusters))
        for c in sorted(set(clusters.tolist())):
            m = clusters == c
            ax.scatter(xy[m, 0], xy[m, 1], s=s, c=cluster_colour(c), lw=0, alpha=0.9,
                       rasterized=True)

    @staticmethod
    def grid_with_legend(nrow, ncol, width, row_h, legend_h, **kw):
        """A figure of nrow x ncol panels plus a bottom row (height legend_h in) for a legend
        spanning all columns, so the legend stays inside the figure's exact size."""
        fig = plt.figure(figsize=(width, nrow * row_h + legend_h), layout="constrained")
        gs = fig.add_gridspec(nrow + 1, ncol, height_ratios=[row_h] * nrow + [legend_h])
        axes = np.empty((nrow, ncol), dtype=object)
        for i in range(nrow):
            for j in range(ncol):
                axes[i, j] = fig.add_subplot(gs[i, j], **kw)
        lax = fig.add_subplot(gs[nrow, :])
        lax.axis("off")
        return fig, axes, lax

    @staticmethod
    def map_axes(ax, title, xlabel="PC1", ylabel="PC2"):
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_xticks([])
        ax.set_yticks([])

    # ==========================================================================================
    # Figures. Each checks its data, notes what is absent, and saves with self.save.
    def fig_pca_labels(self):
        sec = "Maps"
        run = self.run
        labels = run.labels()
        if labels is None:
            self.note(sec, "PCA by published label: results.h5 has no /samples/label.")
            return
        panels, missing = [], []
        for fs in ["raw", "ae", "vae", "vqvae"]:
            if fs == "raw":
                x = run.ds("features/pca")
                if x is not None and x.shape[1] >= 2:
                    panels.append((fs, np.asarray(x[:, :2], dtype=float), run.pca_ratio()))
                else:
                    missing.append("raw expression (no /features/pca)")
                continue
            x = run.latent(fs)
            if x is None:
                missing.append("%s (no /models/%s/latent)" % (fs_name(fs), fs))
                continue
            xy, ratio = pca2(x)
            panels.append((fs, xy, ratio))
        if missing:
            self.note(sec, "PCA by published label: not shown for " + ", ".join(missing) + ".")
        if not panels:
            return
        n = len(panels)
        fig, axes = plt.subplots(1, n + 1, figsize=(COL2, 2.0), layout="constrained",
                                 gridspec_kw=dict(width_ratios=[1] * n + [0.55]))
        for ax, (fs, xy, ratio) in zip(axes, panels):
            self.scatter_labels(ax, xy, labels)
            title = "Raw expression" if fs == "raw" else "%s latent" % fs_name(fs)
            if ratio is None:
                self.map_axes(ax, title)
            else:
                self.map_axes(ax, title, "PC1 (%.0f %%)" % (100 * ratio[0]),
                              "PC2 (%.0f %%)" % (100 * ratio[1]))
        counts = {x: labels.count(x) for x in set(labels)}
        axes[-1].axis("off")
        axes[-1].legend(handles=self.label_handles(set(labels), counts), title="Published label",
                        loc="center left")
        self.save(fig, "pca_labels", sec, "PCA coloured by the published label",
                  "First two principal components of the raw (preprocessed, standardised) "
                  "expression and of the AE, VAE and VQ-VAE latent features; each point a "
                  "sample, coloured by its published subtype label (grey: no label).")

    def fig_vqvae_methods(self):
        sec = "Maps"
        run = self.run
        x = run.latent("vqvae")
        if x is None:
            self.note(sec, "VQ-VAE latents by clustering method: no /models/vqvae/latent.")
            return
        methods = [m for m in run.methods() if run.cluster_labels("vqvae", m) is not None]
        if not methods:
            self.note(sec, "VQ-VAE latents by clustering method: no clusters of the VQ-VAE "
                           "features (/clusters/vqvae/s%s)." % run.first_seed())
            return
        xy, ratio = pca2(x)
        best = run.best_rows()
        labels = run.labels()
        panels = ([("label", None)] if labels is not None else []) + [(m, run.cluster_labels(
            "vqvae", m)) for m in methods]
        ncol = min(4, len(panels))
        nrow = int(math.ceil(len(panels) / ncol))
        nleg = len(set(labels or [])) + 8
        fig, axes, lax = self.grid_with_legend(nrow, ncol, COL2, 1.85,
                                               0.16 * math.ceil(nleg / 7) + 0.1)
        allc = set()
        for ax, (m, lab) in zip(axes.ravel(), panels):
            if m == "label":
                self.scatter_labels(ax, xy, labels)
                title = "Published label"
            else:
                self.scatter_clusters(ax, xy, lab)
                allc |= set(lab.tolist())
                r = best.get((run.cancers()[0] if run.cancers() else "", "vqvae", m))
                title = "%s (k = %d)" % (method_name(m), len(set(lab[lab >= 0].tolist())))
                if r is not None and np.isfinite(fnum(r.get("nmi"))):
                    title += "\nNMI %.2f, log-rank p %s" % (fnum(r["nmi"]),
                                                           fmt_p(fnum(r.get("logrank_p"))))
            self.map_axes(ax, title, "PC1 (%.0f %%)" % (100 * ratio[0]),
                          "PC2 (%.0f %%)" % (100 * ratio[1]))
        for ax in axes.ravel()[len(panels):]:
            ax.axis("off")
        hs = self.cluster_handles(allc)
        if labels is not None:
            hs = self.label_handles(set(labels)) + hs
        lax.legend(handles=hs, loc="center", ncol=min(len(hs), 7))
        self.save(fig, "vqvae_methods", sec, "VQ-VAE latents coloured by each clustering",
                  "PCA of the VQ-VAE latent features (pre-quantisation encoder output), coloured "
                  "by the published label and by the clusters of each method at the k it chose "
                  "(highest mean silhouette; seed %s)." % run.first_seed())

    def fig_vqvae_vs_raw(self):
        sec = "Maps"
        run = self.run
        lab_vq = run.cluster_labels("vqvae", "kmeans")
        x = run.latent("vqvae")
        rawpca = run.ds("features/pca")
        comps = [("snf", "SNF"), ("icluster", "iClusterBayes"), ("nmf", "consensus NMF")]
        missing = [name for m, name in comps if run.cluster_labels("raw", m) is None]
        if lab_vq is None or x is None:
            self.note(sec, "VQ-VAE + k-means vs. raw-data methods: no k-means clusters of the "
                           "VQ-VAE latents.")
            return
        if rawpca is None:
            self.note(sec, "VQ-VAE + k-means vs. raw-data methods: no raw-data clusters or "
                           "/features/pca in this run.")
            return
        if missing:
            self.note(sec, "VQ-VAE + k-means vs. raw-data methods: not run on the raw data: %s "
                           "(add them to cluster.methods)." % ", ".join(missing))
        if len(missing) == len(comps):
            return
        best = run.best_rows()
        cancer = run.cancers()[0] if run.cancers() else ""
        xy_vq, ratio = pca2(x)
        xy_raw = np.asarray(rawpca[:, :2], dtype=float)
        raw_ratio = run.pca_ratio()
        fig, axes, lax = self.grid_with_legend(1, 4, COL2, 1.95, 0.25)
        axes = axes[0]
        panels = [("vqvae", "kmeans", "VQ-VAE + k-means", lab_vq, xy_vq)]
        panels += [("raw", m, name, run.cluster_labels("raw", m), xy_raw) for m, name in comps]
        allc = set()
        for ax, (fs, m, name, lab, xy) in zip(axes, panels):
            if lab is None:
                ax.axis("off")
                ax.text(0.5, 0.5, "%s\nnot run on raw data" % name, ha="center", va="center",
                        color="#777777", transform=ax.transAxes)
                continue
            self.scatter_clusters(ax, xy, lab)
            allc |= set(lab.tolist())
            r = best.get((cancer, fs, m))
            title = name if fs == "vqvae" else "%s (raw)" % name
            if r is not None:
                title += "\nk = %s, NMI %.2f, p %s" % (r.get("k"), fnum(r.get("nmi")),
                                                       fmt_p(fnum(r.get("logrank_p"))))
            r_ax = ratio if fs == "vqvae" else raw_ratio
            self.map_axes(ax, title, *(("PC1 (%.0f %%)" % (100 * r_ax[0]), "PC2 (%.0f %%)" % (
                100 * r_ax[1])) if r_ax is not None else ("raw PC1", "raw PC2")))
        hs = self.cluster_handles(allc)
        lax.legend(handles=hs, loc="center", ncol=len(hs))
        self.save(fig, "vqvae_vs_raw", sec, "VQ-VAE + k-means next to SNF, iClusterBayes and "
                  "consensus NMF on the raw data",
                  "Left: k-means on the VQ-VAE latents (PCA of the latents). Others: the "
                  "multi-omics methods run on the raw expression (PCA of the raw expression). "
                  "NMI against the published labels and log-rank p of the clusters.")

    def fig_metric_bars(self):
        sec = "Metrics"
        run = self.run
        if len(run.cancers()) > 1:
            self.note(sec, "Best-result bars: several cancers in summary.tsv; see the "
                           "pan-cancer heatmaps.")
            return
        best = run.best_rows()
        if not best:
            self.note(sec, "Best-result bars: summary.tsv has no clustering rows.")
            return
        fss = ordered([k[1] for k in best], FS_ORDER)
        ms = ordered([k[2] for k in best], run.method_order())
        cancer = list(best)[0][0]
        metrics = [("nmi", "NMI"), ("silhouette", "Silhouette"), ("purity", "Purity")]
        fig, axes = plt.subplots(len(metrics), 1, figsize=(COL2, 4.6), layout="constrained",
                                 sharex=True)
        w = 0.8 / len(fss)
        for ax, (col, name) in zip(axes, metrics):
            for i, fs in enumerate(fss):
                vals = [fnum(best[(cancer, fs, m)].get(col)) if (cancer, fs, m) in best
                        else np.nan for m in ms]
                ax.bar(np.arange(len(ms)) + (i - (len(fss) - 1) / 2) * w, vals, w * 0.92,
                       color=FS_COLOUR.get(fs, "#444444"), label=fs_name(fs))
            ax.set_ylabel(name)
            ax.axhline(0, color="black", lw=0.5)
            if col != "silhouette":
                ax.set_ylim(0, 1)
        pub = run.published_row(cancer)
        axes[-1].set_xticks(np.arange(len(ms)))
        axes[-1].set_xticklabels([method_name(m) for m in ms])
        axes[0].legend(ncol=len(fss), loc="lower center", bbox_to_anchor=(0.5, 1.0),
                       title="Feature set")
        self.save(fig, "metrics_bars", sec, "NMI, silhouette and purity of the best result of "
                  "each feature set and method",
                  "Each bar: one feature set x clustering method at the k with the highest mean "
                  "silhouette (seed %s). NMI and purity against the published labels%s; "
                  "silhouette on the feature set itself." % (
                      run.first_seed(), " (%s labelled samples)" % pub.get("n_labelled")
                      if pub else ""))

    def fig_metric_heatmaps(self):
        sec = "Metrics"
        run = self.run
        if len(run.cancers()) > 1:
            self.note(sec, "Metric heatmaps: several cancers in summary.tsv; see the pan-cancer "
                           "heatmaps.")
            return
        best = run.best_rows()
        if not best:
            self.note(sec, "Metric heatmaps: summary.tsv has no clustering rows.")
            return
        fss = ordered([k[1] for k in best], FS_ORDER)
        ms = ordered([k[2] for k in best], run.method_order())
        cancer = list(best)[0][0]
        metrics = [("nmi", "NMI", "viridis", (0, 1)), ("ari", "ARI", "viridis", (None, 1)),
                   ("purity", "Purity", "viridis", (0, 1)),
                   ("silhouette", "Silhouette", "viridis", (None, None)),
                   ("logrank_p", "-log10 log-rank p", "magma_r", (0, "p"))]
        fig, axes = plt.subplots(2, 3, figsize=(COL2, 2 * (0.95 + 0.24 * len(fss))),
                                 layout="constrained")
        for ax, (col, name, cmap, (lo, hi)) in zip(axes.ravel(), metrics):
            m = np.full((len(fss), len(ms)), np.nan)
            for i, fs in enumerate(fss):
                for j, me in enumerate(ms):
                    r = best.get((cancer, fs, me))
                    if r is not None:
                        v = fnum(r.get(col))
                        m[i, j] = -np.log10(max(v, 1e-300)) if col == "logrank_p" and \
                            np.isfinite(v) else v
            self.heatmap(ax, m, [fs_name(f) for f in fss], [method_name(x) for x in ms], cmap,
                         lo, hi, name)
        axes.ravel()[-1].axis("off")
        axes.ravel()[-1].text(0, 0.5, "Rows: feature sets\nColumns: clustering methods\n"
                              "Best k by silhouette\n-log10 p > 1.3: p < 0.05",
                              va="center", fontsize=6.5, transform=axes.ravel()[-1].transAxes)
        self.save(fig, "metrics_heatmaps", sec, "Every feature set x clustering method, "
                  "for each metric",
                  "NMI, ARI and purity against the published labels, silhouette on the features "
                  "and -log10 of the log-rank p over the clusters, each at the best k by "
                  "silhouette (seed %s). Grey: not defined." % run.first_seed())

    def heatmap(self, ax, m, rows, cols, cmap, lo, hi, title, annotate=True, cbar=True):
        finite = m[np.isfinite(m)]
        vmin = lo if lo is not None else (finite.min() if finite.size else 0)
        if hi == "p":  # -log10 p: p = 0.05 stays mid-scale however weak the results
            hi = max(finite.max() if finite.size else 0, 2.0)
        vmax = hi if hi is not None else (finite.max() if finite.size else 1)
        if vmax <= vmin:
            vmax = vmin + 1e-9
        cm = plt.get_cmap(cmap).copy()
        cm.set_bad("#E6E6E6")
        im = ax.imshow(np.ma.masked_invalid(m), cmap=cm, vmin=vmin, vmax=vmax, aspect="auto",
                       interpolation="nearest")
        ax.set_xticks(range(len(cols)))
        ax.set_xticklabels(cols, rotation=45, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(rows)
        ax.set_title(title)
        for s in ax.spines.values():
            s.set_visible(False)
        ax.tick_params(length=0)
        if annotate and m.size <= 300:
            for i in range(m.shape[0]):
                for j in range(m.shape[1]):
                    v = m[i, j]
                    if not np.isfinite(v):
                        continue
                    rgba = cm((v - vmin) / (vmax - vmin))
                    lum = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
                    ax.text(j, i, "%.2f" % v if abs(v) < 10 else "%.0f" % v, ha="center",
                            va="center", fontsize=5 if m.shape[1] > 6 else 5.5,
                            color="white" if lum < 0.5 else "black")
        if cbar:
            cb = ax.figure.colorbar(im, ax=ax, shrink=0.85, aspect=15, pad=0.02)
            cb.ax.tick_params(labelsize=5.5, length=2)
            cb.outline.set_linewidth(0.4)
        return im

    def fig_tsne(self):
        sec = "Maps"
        run = self.run
        rows = []
        for fs in run.feature_sets():
            t = run.table(fs, "maps")
            if t is None:
                continue
            if "tsne1" not in t or not np.any(np.isfinite(np.asarray(t["tsne1"], dtype=float))):
                self.note(sec, "t-SNE of %s: not computed (eval.tsne = false)." % fs_name(fs))
                continue
            rows.append((fs, t))
        absent = [fs_name(fs) for fs in run.feature_sets() if fs in MODEL_FS and
                  run.table(fs, "maps") is None]
        if absent:
            self.note(sec, "t-SNE: no maps table for %s." % ", ".join(absent))
        if not rows:
            self.note(sec, "t-SNE: no feature set has a t-SNE map (maps tables are written for "
                           "model latents with eval.tsne = true).")
            return
        fig, axes = plt.subplots(len(rows), 3, figsize=(COL2, 2.3 * len(rows)),
                                 layout="constrained", squeeze=False,
                                 gridspec_kw=dict(width_ratios=[1, 1, 0.5]))
        for (fs, t), ax3 in zip(rows, axes):
            xy = np.column_stack([t["tsne1"], t["tsne2"]]).astype(float)
            lab = [UNKNOWN if x in ("NA", "") else x for x in t["label"]]
            cl = np.asarray(t["cluster"], dtype=float)
            cl = np.where(np.isfinite(cl), cl, -1).astype(int)
            m = t["method"][0]
            self.scatter_labels(ax3[0], xy, lab)
            self.map_axes(ax3[0], "%s: published label" % fs_name(fs), "t-SNE 1", "t-SNE 2")
            self.scatter_clusters(ax3[1], xy, cl)
            self.map_axes(ax3[1], "%s: %s clusters" % (fs_name(fs), method_name(m)), "t-SNE 1",
                          "t-SNE 2")
            ax3[2].axis("off")
            hs = self.label_handles(set(lab)) + self.cluster_handles(set(cl.tolist()))
            ax3[2].legend(handles=hs, loc="center left")
        self.save(fig, "tsne", sec, "t-SNE maps coloured by label and by cluster",
                  "t-SNE of each model's latent features (perplexity %s, capped at (N-1)/3), "
                  "coloured by the published label (left) and the clusters of the first "
                  "evaluated method (right)." % run.cfg("eval", "perplexity", "50"))

    def fig_flow(self, fs):
        sec = "Label flow"
        run = self.run
        t = run.table(fs, "flow")
        m = run.primary_method(fs)
        if t is None or m is None:
            self.note(sec, "Label flow of %s: no flow table." % fs_name(fs))
            return
        sel = rows_of(t, "method", m) & rows_of(t, "reference", "published_label")
        if not sel.any():
            self.note(sec, "Label flow of %s: no published labels." % fs_name(fs))
            return
        labs = [UNKNOWN if x in ("NA", "") else x for x in np.asarray(t["label"], object)[sel]]
        cls = np.asarray(t["cluster"], dtype=float)[sel].astype(int)
        cnt = np.asarray(t["count"], dtype=float)[sel]
        L = self.pal.sort_labels(labs)
        C = sorted(set(cls.tolist()))
        flows = {}
        for a, b, c in zip(labs, cls, cnt):
            flows[(a, int(b))] = flows.get((a, int(b)), 0) + c
        lt = {a: sum(v for (x, _), v in flows.items() if x == a) for a in L}
        ct = {b: sum(v for (_, y), v in flows.items() if y == b) for b in C}
        total = sum(lt.values())
        if total <= 0:
            self.note(sec, "Label flow of %s: empty." % fs_name(fs))
            return
        fig, ax = plt.subplots(figsize=(COL1, 3.0), layout="constrained")
        gap = 0.02 * total
        w = 0.07

        def stack(keys, tot):
            pos, y = {}, total + gap * (len(keys) - 1)
            for k in keys:
                pos[k] = [y, y - tot[k]]
                y -= tot[k] + gap
            return pos

        lp = stack(L, lt)
        cp = stack(C, ct)
        ltop = {a: lp[a][0] for a in L}
        ctop = {b: cp[b][0] for b in C}
        for a in L:
            for b in C:
                v = flows.get((a, b), 0)
                if v <= 0:
                    continue
                y0, y1 = ltop[a], ctop[b]
                ltop[a] -= v
                ctop[b] -= v
                verts = [(w, y0), (0.5, y0), (0.5, y1), (1 - w, y1), (1 - w, y1 - v),
                         (0.5, y1 - v), (0.5, y0 - v), (w, y0 - v), (w, y0)]
                codes = [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4, Path.LINETO,
                         Path.CURVE4, Path.CURVE4, Path.CURVE4, Path.CLOSEPOLY]
                ax.add_patch(PathPatch(Path(verts, codes), fc=self.pal.label(a), ec="none",
                                       alpha=0.45))
        for a in L:
            top, bot = lp[a]
            ax.add_patch(Rectangle((0, bot), w, top - bot, fc=self.pal.label(a), ec="none"))
            ax.text(-0.02, (top + bot) / 2, "%s (%d)" % (a, lt[a]), ha="right", va="center",
                    fontsize=6)
        for b in C:
            top, bot = cp[b]
            ax.add_patch(Rectangle((1 - w, bot), w, top - bot, fc=cluster_colour(b), ec="none"))
            ax.text(1.02, (top + bot) / 2, "Cluster %d (%d)" % (b, ct[b]), ha="left",
                    va="center", fontsize=6)
        ax.set_xlim(-0.55, 1.5)
        ax.set_ylim(-gap, total + gap * max(len(L), len(C)))
        ax.axis("off")
        ax.text(0.035, total + gap * (max(len(L), len(C)) - 0.3), "Published label", ha="center",
                va="bottom", fontsize=6.5, weight="bold")
        ax.text(1 - 0.035, total + gap * (max(len(L), len(C)) - 0.3), "Cluster", ha="center",
                va="bottom", fontsize=6.5, weight="bold")
        ax.set_title("%s + %s" % (fs_name(fs), method_name(m)))
        self.save(fig, "flow_%s" % fs, sec, "Label flow: published labels to %s + %s clusters" % (
            fs_name(fs), method_name(m)),
            "Alluvial diagram of the contingency table: each band carries the samples of one "
            "published label (left) into one cluster (right); band height = number of samples. "
            "Unlabelled samples in grey.")

    def fig_km_published(self):
        sec = "Survival"
        run = self.run
        labels = run.labels()
        t = run.ds("samples/os_time")
        e = run.ds("samples/os_event")
        if labels is None or t is None or e is None:
            self.note(sec, "Kaplan-Meier of the published labels: results.h5 has no "
                           "/samples/{label,os_time,os_event}.")
            return
        lab = np.asarray(labels, dtype=object)
        t = np.asarray(t, dtype=float)
        e = np.asarray(e, dtype=int)
        keep = (lab != UNKNOWN) & np.isfinite(t)
        if keep.sum() < 2 or len(set(lab[keep].tolist())) < 1:
            self.note(sec, "Kaplan-Meier of the published labels: no labelled sample with a "
                           "survival time.")
            return
        pub = run.published_row()
        p = fnum(pub.get("logrank_p")) if pub else float("nan")
        chi2, df, p_np = logrank(t[keep], e[keep], lab[keep])
        if not np.isfinite(p):
            p = p_np
        fig, ax = plt.subplots(figsize=(COL1, 2.6), layout="constrained")
        hs = []
        for name in self.pal.sort_labels(lab[keep].tolist()):
            m = keep & (lab == name)
            tt, ss, ct, cs = kaplan_meier(t[m] / 365.25, e[m])
            tmax = np.nanmax(t[m]) / 365.25
            ax.step(np.append(tt, tmax), np.append(ss, ss[-1]), where="post",
                    color=self.pal.label(name), lw=1)
            ax.plot(ct, cs, "|", color=self.pal.label(name), ms=3, mew=0.6)
            hs.append(Line2D([], [], color=self.pal.label(name), label="%s (%d)" % (name,
                                                                                     m.sum())))
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(left=0)
        ax.set_xlabel("Overall survival (years)")
        ax.set_ylabel("Survival probability")
        ax.set_title("Published labels: log-rank p = %s" % fmt_p(p))
        ax.legend(handles=hs, loc="lower left", title="Label (n)")
        self.save(fig, "km_published", sec, "Kaplan-Meier curves of the published labels",
                  "Product-limit estimates per published label (unlabelled samples left out); "
                  "ticks mark censored samples. Log-rank test over the labels (chi2 %.2f, "
                  "df %d)." % (chi2, df) if np.isfinite(chi2) else
                  "Product-limit estimates per published label.")

    def fig_km_clusters(self, fs):
        sec = "Survival"
        run = self.run
        km = run.table(fs, "km")
        sv = run.table(fs, "survival")
        if km is None:
            self.note(sec, "Kaplan-Meier of the %s clusters: no km table." % fs_name(fs))
            return
        ms = ordered(km["method"], run.method_order())
        if not ms:
            self.note(sec, "Kaplan-Meier of the %s clusters: empty km table." % fs_name(fs))
            return
        ncol = min(4, len(ms))
        nrow = int(math.ceil(len(ms) / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(COL2, 2.05 * nrow + 0.1),
                                 layout="constrained", squeeze=False, sharey=True)
        for ax, m in zip(axes.ravel(), ms):
            sel = rows_of(km, "method", m)
            cl = np.asarray(km["cluster"], dtype=float)[sel].astype(int)
            tt = np.asarray(km["time"], dtype=float)[sel] / 365.25
            ss = np.asarray(km["survival"], dtype=float)[sel]
            lo = np.asarray(km["lower"], dtype=float)[sel]
            hi = np.asarray(km["upper"], dtype=float)[sel]
            nr = np.asarray(km["n_risk"], dtype=float)[sel]
            nc = np.asarray(km["n_censor"], dtype=float)[sel]
            hs = []
            for c in sorted(set(cl.tolist())):
                k = cl == c
                x = np.concatenate([[0], tt[k]])
                y = np.concatenate([[1], ss[k]])
                ylo = np.concatenate([[1], np.where(np.isfinite(lo[k]), lo[k], ss[k])])
                yhi = np.concatenate([[1], np.where(np.isfinite(hi[k]), hi[k], ss[k])])
                col = cluster_colour(c)
                ax.fill_between(x, ylo, yhi, step="post", color=col, alpha=0.12, lw=0)
                ax.step(x, y, where="post", color=col, lw=0.9)
                cen = nc[k] > 0
                ax.plot(tt[k][cen], ss[k][cen], "|", color=col, ms=3, mew=0.5)
                hs.append(Line2D([], [], color=col, label="%d (%d)" % (c, nr[k][0])))
            p = float("nan")
            if sv is not None:
                r = rows_of(sv, "method", m)
                if r.any():
                    p = float(np.asarray(sv["logrank_p"], dtype=float)[r][0])
            ax.set_title("%s: log-rank p = %s" % (method_name(m), fmt_p(p)))
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlim(left=0)
            ax.set_xlabel("Overall survival (years)")
            ax.legend(handles=hs, loc="lower left", title="Cluster (n)", fontsize=5.5,
                      title_fontsize=5.5, handlelength=1.2)
        for ax in axes[:, 0]:
            ax.set_ylabel("Survival probability")
        for ax in axes.ravel()[len(ms):]:
            ax.axis("off")
        self.save(fig, "km_%s" % fs, sec, "Kaplan-Meier curves of the %s clusters" % fs_name(fs),
                  "Overall survival per cluster of each method on the %s features (best k by "
                  "silhouette), with 95 %% confidence bands (log transform) and the multi-group "
                  "log-rank p." % fs_name(fs))

    def de_thresholds(self):
        return (self.run.cfg_float("eval", "de_fdr", 0.05),
                self.run.cfg_float("eval", "de_lfc", 1.0))

    def fig_volcano(self, fs):
        sec = "Differential expression"
        run = self.run
        de = run.table(fs, "de")
        m = run.primary_method(fs)
        if de is None or m is None:
            self.note(sec, "Volcano plots of %s: no de table (the evaluation had no cohort)." %
                      fs_name(fs))
            return
        sel = rows_of(de, "method", m)
        if not sel.any():
            self.note(sec, "Volcano plots of %s: no rows for %s." % (fs_name(fs), m))
            return
        fdr, lfc = self.de_thresholds()
        cl = np.asarray(de["cluster"], dtype=float)[sel].astype(int)
        fc = np.asarray(de["log2fc"], dtype=float)[sel]
        q = np.asarray(de["t_q"], dtype=float)[sel]
        feat = np.asarray(de["feature"], dtype=object)[sel]
        mir = np.array([str(f).lower().startswith(("hsa-", "mir", "mmu-")) for f in feat])
        C = sorted(set(cl.tolist()))
        ncol = min(4, len(C))
        nrow = int(math.ceil(len(C) / ncol))
        fig, axes, lax = self.grid_with_legend(nrow, ncol, COL2, 1.9, 0.22)
        ymax = np.nanmax(-np.log10(np.clip(q, 1e-300, 1))) if np.isfinite(q).any() else 1
        xlim = np.nanmax(np.abs(fc[np.isfinite(fc)])) * 1.08 if np.isfinite(fc).any() else 1
        for ax, c in zip(axes.ravel(), C):
            k = (cl == c) & np.isfinite(fc) & np.isfinite(q)
            x = fc[k]
            y = -np.log10(np.clip(q[k], 1e-300, 1))
            up = (q[k] < fdr) & (x > lfc)
            dn = (q[k] < fdr) & (x < -lfc)
            ns = ~(up | dn)
            mk = mir[k]
            for sub, col in ((ns, "#BBBBBB"), (up, "#C0392B"), (dn, "#2E6DB4")):
                for is_mir, marker in ((False, "o"), (True, "^")):
                    s = sub & (mk == is_mir)
                    if s.any():
                        ax.scatter(x[s], y[s], s=3 if marker == "o" else 5, c=col, lw=0,
                                   marker=marker, rasterized=True)
            ax.axhline(-np.log10(fdr), color="#555555", lw=0.5, ls="--")
            for v in (-lfc, lfc):
                ax.axvline(v, color="#555555", lw=0.5, ls="--")
            sig = np.where(up | dn)[0]
            top = sig[np.argsort(-y[sig])][:4]
            names = np.asarray(feat[k], dtype=object)
            for n_, i in enumerate(top[:3]):  # staggered so close points stay readable
                right = x[i] >= 0
                ax.annotate(str(names[i]).split("|")[0], (x[i], y[i]), fontsize=4.5,
                            xytext=((3 if right else -3), 4 - 6 * n_), textcoords="offset points",
                            ha="left" if right else "right", va="center",
                            arrowprops=dict(arrowstyle="-", lw=0.3, color="#555555"))
            ax.set_title("Cluster %d vs rest: %d up, %d down" % (c, up.sum(), dn.sum()) if ncol < 4
                         else "Cluster %d: %d up, %d down" % (c, up.sum(), dn.sum()),
                         color=cluster_colour(c))
            ax.set_xlim(-xlim, xlim)
            ax.set_ylim(0, ymax * 1.1 + 0.1)
            ax.set_xlabel("log2 fold change")
            ax.set_ylabel("-log10 q (Welch, BH)")
        for ax in axes.ravel()[len(C):]:
            ax.axis("off")
        hs = [Line2D([], [], marker="o", ls="", ms=3, mfc=c, mec="none", label=n) for c, n in (
            ("#C0392B", "up (q < %g, log2 FC > %g)" % (fdr, lfc)),
            ("#2E6DB4", "down"), ("#BBBBBB", "not significant"))]
        hs.append(Line2D([], [], marker="^", ls="", ms=3, mfc="#777777", mec="none",
                         label="miRNA"))
        lax.legend(handles=hs, loc="center", ncol=4)
        self.save(fig, "volcano_%s" % fs, sec, "Volcano plots: each %s + %s cluster against the "
                  "rest" % (fs_name(fs), method_name(m)),
                  "Differential expression (preprocessed log expression, mRNA and miRNA) of each "
                  "cluster against all other samples: log2 fold change vs -log10 BH q of Welch's "
                  "t test; dashed lines at q = %g and |log2 FC| = %g; the most significant "
                  "features named." % (fdr, lfc))

    def fig_enrichment(self, fs):
        sec = "Differential expression"
        run = self.run
        en = run.table(fs, "enrichment")
        m = run.primary_method(fs)
        if en is None or m is None:
            self.note(sec, "Enrichment of %s: no enrichment table (set eval.gmt to a GMT file "
                           "of gene sets)." % fs_name(fs))
            return
        sel = rows_of(en, "method", m)
        if not sel.any():
            self.note(sec, "Enrichment of %s: no rows for %s." % (fs_name(fs), m))
            return
        cl = np.asarray(en["cluster"], dtype=float)[sel].astype(int)
        sets = np.asarray(en["set"], dtype=object)[sel]
        ov = np.asarray(en["overlap"], dtype=float)[sel]
        p = np.asarray(en["p"], dtype=float)[sel]
        q = np.asarray(en["q"], dtype=float)[sel]
        best = {}
        for s, pv in zip(sets, p):
            best[s] = min(best.get(s, 1.0), pv if np.isfinite(pv) else 1.0)
        top = sorted(best, key=lambda s: (best[s], s))[:20]
        C = sorted(set(cl.tolist()))
        fig, ax = plt.subplots(figsize=(COL1, 0.9 + 0.16 * len(top)), layout="constrained")
        xs, ys, sz, col = [], [], [], []
        for i, s in enumerate(top):
            for j, c in enumerate(C):
                k = (sets == s) & (cl == c)
                if not k.any():
                    continue
                xs.append(j)
                ys.append(i)
                sz.append(ov[k][0])
                col.append(-np.log10(max(q[k][0], 1e-300)) if np.isfinite(q[k][0]) else 0)
        sz = np.array(sz)
        smax = max(sz.max(), 1) if sz.size else 1
        sc = ax.scatter(xs, ys, s=4 + 60 * sz / smax, c=col, cmap="viridis", vmin=0,
                        vmax=max(max(col) if col else 1, -np.log10(0.05)), lw=0.3,
                        edgecolors="#333333")
        ax.set_xticks(range(len(C)))
        ax.set_xticklabels(["%d" % c for c in C])
        for tl, c in zip(ax.get_xticklabels(), C):
            tl.set_color(cluster_colour(c))
        ax.set_yticks(range(len(top)))
        ax.set_yticklabels([s if len(s) <= 40 else s[:38] + "..." for s in top])
        ax.set_xlim(-0.6, len(C) - 0.4)
        ax.set_ylim(len(top) - 0.5, -0.5)
        ax.set_xlabel("Cluster (%s)" % method_name(m))
        cb = fig.colorbar(sc, ax=ax, shrink=0.7, aspect=15)
        cb.set_label("-log10 q", fontsize=6)
        cb.ax.tick_params(labelsize=5.5)
        for v in sorted(set([1, int(np.ceil(smax / 2)), int(smax)])):
            ax.scatter([], [], s=4 + 60 * v / smax, c="#BBBBBB", lw=0.3, edgecolors="#333333",
                       label=str(v))
        ax.legend(title="Genes in the overlap", loc="upper center", bbox_to_anchor=(0.5, -0.16),
                  ncol=3, fontsize=5.5, borderaxespad=0)
        ax.set_title("Gene sets: %s + %s" % (fs_name(fs), method_name(m)))
        self.save(fig, "enrichment_%s" % fs, sec, "Enrichment of each %s + %s cluster's "
                  "up-regulated genes" % (fs_name(fs), method_name(m)),
                  "Over-representation (hypergeometric test, BH q) of the gene sets among each "
                  "cluster's up-regulated genes; the %d sets with the smallest p over the "
                  "clusters. Dot size: genes in the overlap; colour: -log10 q." % len(top))

    def fig_network(self, fs, max_edges=60):
        sec = "Differential expression"
        run = self.run
        nt = run.table(fs, "network")
        m = run.primary_method(fs)
        if nt is None or m is None or "method" not in nt:
            self.note(sec, "miRNA-gene network of %s: no edges (no pair of a differentially "
                           "expressed miRNA and gene with r <= -%s)." % (
                               fs_name(fs), run.cfg("eval", "network_r", "0.5")))
            return
        sel = rows_of(nt, "method", m)
        if not sel.any():  # the primary method has no edges: show the first method with some
            others = [x for x in ordered(nt["method"], run.method_order()) if x != m]
            if not others:
                self.note(sec, "miRNA-gene network of %s: no edges." % fs_name(fs))
                return
            self.note(sec, "miRNA-gene network of %s + %s: no edges; shown for %s." % (
                fs_name(fs), method_name(m), method_name(others[0])))
            m = others[0]
            sel = rows_of(nt, "method", m)
        mi = np.asarray(nt["mirna"], dtype=object)[sel]
        ge = np.asarray(nt["gene"], dtype=object)[sel]
        r = np.asarray(nt["r"], dtype=float)[sel]
        mic = np.asarray(nt["mirna_clusters"], dtype=object)[sel]
        gec = np.asarray(nt["gene_clusters"], dtype=object)[sel]
        n_all = len(r)
        keep = np.argsort(r, kind="stable")[:max_edges]
        mi, ge, r, mic, gec = mi[keep], ge[keep], r[keep], mic[keep], gec[keep]
        mirnas = sorted(set(mi.tolist()), key=lambda x: (-np.sum(mi == x), x))
        ypos_m = {x: i for i, x in enumerate(mirnas)}
        nm = max(len(mirnas), 1)
        genes = sorted(set(ge.tolist()), key=lambda g: (np.mean([ypos_m[a] for a in mi[ge == g]]),
                                                        g))
        ng = len(genes)
        n = max(nm, ng)
        ym = {x: (i + 0.5) * n / nm for i, x in enumerate(mirnas)}
        yg = {x: (i + 0.5) * n / ng for i, x in enumerate(genes)}
        height = float(np.clip(0.9 + 0.11 * n, 2.2, 9.0))
        fig, ax = plt.subplots(figsize=(COL1, height), layout="constrained")
        cmap = plt.get_cmap("Blues")
        rmin = float(np.min(r))
        rmax = float(np.max(r))
        span = max(rmax - rmin, 1e-9)
        for a, g, rv in zip(mi, ge, r):
            strength = (rmax - rv) / span if span > 1e-9 else 1.0
            ax.plot([0, 1], [ym[a], yg[g]], color=cmap(0.35 + 0.65 * strength),
                    lw=0.4 + 1.2 * strength, alpha=0.8, zorder=1)

        def first_cluster(s):
            s = str(s).split(",")[0].strip()
            return int(s) if s.lstrip("-").isdigit() else -1

        for x in mirnas:
            c = first_cluster(mic[mi == x][0])
            ax.scatter([0], [ym[x]], s=22, marker="^", c=cluster_colour(c), zorder=2, lw=0.3,
                       edgecolors="#333333")
            ax.text(-0.04, ym[x], str(x), ha="right", va="center", fontsize=5)
        for g in genes:
            c = first_cluster(gec[ge == g][0])
            ax.scatter([1], [yg[g]], s=18, marker="o", c=cluster_colour(c), zorder=2, lw=0.3,
                       edgecolors="#333333")
            ax.text(1.04, yg[g], str(g).split("|")[0], ha="left", va="center", fontsize=5)
        ax.set_xlim(-0.75, 1.75)
        ax.set_ylim(n + 0.3, -0.3 - 0.06 * n)
        ax.axis("off")
        ax.text(0, -0.1 - 0.03 * n, "miRNA", ha="center", va="bottom", weight="bold")
        ax.text(1, -0.1 - 0.03 * n, "gene", ha="center", va="bottom", weight="bold")
        clusters = set()
        for s in list(mic) + list(gec):
            clusters.add(first_cluster(s))
        hs = self.cluster_handles(clusters)
        hs.append(Line2D([], [], color=cmap(1.0), lw=1.6, label="r = %.2f" % rmin))
        hs.append(Line2D([], [], color=cmap(0.35), lw=0.4, label="r = %.2f" % rmax))
        ax.legend(handles=hs, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3,
                  fontsize=5.5, title="Node: first cluster where DE; edge: Pearson r")
        ax.set_title("miRNA-gene network: %s + %s\n%d of %d edges" % (
            fs_name(fs), method_name(m), len(r), n_all))
        self.save(fig, "network_%s" % fs, sec, "miRNA-gene network (%s + %s)" % (
            fs_name(fs), method_name(m)),
            "Differentially expressed miRNAs (left) and genes (right) joined where their "
            "expression is negatively correlated (Pearson r <= -%s over all samples); the %d "
            "strongest of %d edges. Node colour: the first cluster in which the feature is "
            "differentially expressed." % (run.cfg("eval", "network_r", "0.5"), len(r), n_all))

    def corr_order(self, fs):
        """Features, their leaf order and tree from the latent_corr table (None if absent)."""
        lc = self.run.table(fs, "latent_corr")
        if lc is None:
            return None
        a = list(lc["feature_a"])
        b = list(lc["feature_b"])
        feats = list(dict.fromkeys(a + b))
        try:
            feats.sort(key=lambda f: int(f.lstrip("z")))
        except ValueError:
            pass
        idx = {f: i for i, f in enumerate(feats)}
        n = len(feats)
        c = np.eye(n)
        for x, y, v in zip(a, b, np.asarray(lc["pearson"], dtype=float)):
            v = v if np.isfinite(v) else 0.0
            c[idx[x], idx[y]] = c[idx[y], idx[x]] = v
        z = average_linkage(1 - np.abs(c))
        order, segs = dendrogram_coords(z, n)
        return feats, c, order, segs

    def fig_latent_heatmap(self, fs):
        sec = "Latent features"
        run = self.run
        t = run.table(fs, "latent_heatmap")
        if t is None:
            self.note(sec, "Latent heatmap of %s: no latent_heatmap table." % fs_name(fs))
            return
        samples = list(dict.fromkeys(t["sample"]))
        feats = list(dict.fromkeys(t["feature"]))
        si = {s: i for i, s in enumerate(samples)}
        fi = {f: i for i, f in enumerate(feats)}
        v = np.full((len(samples), len(feats)), np.nan)
        vals = np.asarray(t["value"], dtype=float)
        for s, f, x in zip(t["sample"], t["feature"], vals):
            v[si[s], fi[f]] = x
        lab_of, cl_of = {}, {}
        for s, lb, c in zip(t["sample"], t["label"], np.asarray(t["cluster"], dtype=float)):
            lab_of[s] = UNKNOWN if lb in ("NA", "") else lb
            cl_of[s] = int(c) if np.isfinite(c) else -1
        m = t["method"][0]
        lorder = self.pal.sort_labels(lab_of.values())
        rank = {x: i for i, x in enumerate(lorder)}
        sorder = sorted(range(len(samples)), key=lambda i: (rank[lab_of[samples[i]]],
                                                            cl_of[samples[i]], i))
        co = self.corr_order(fs)
        forder = list(range(len(feats)))
        if co is not None:
            cf, _, order, _ = co
            pos = {f: k for k, f in enumerate(cf[i] for i in order)}
            forder = sorted(forder, key=lambda j: pos.get(feats[j], 1e9))
        mat = v[np.ix_(sorder, forder)]
        mu = np.nanmean(mat, axis=0)
        sd = np.nanstd(mat, axis=0)
        sd[~(sd > 0)] = 1
        zmat = np.clip((mat - mu) / sd, -3, 3).T
        fig = plt.figure(figsize=(COL2, 3.6), layout="constrained")
        gs = fig.add_gridspec(3, 2, height_ratios=[0.06, 0.06, 1], width_ratios=[1, 0.02],
                              hspace=0.01)
        axl = fig.add_subplot(gs[0, 0])
        axc = fig.add_subplot(gs[1, 0], sharex=axl)
        axh = fig.add_subplot(gs[2, 0], sharex=axl)
        axb = fig.add_subplot(gs[2, 1])
        labs = [lab_of[samples[i]] for i in sorder]
        cls = [cl_of[samples[i]] for i in sorder]
        axl.imshow([[matplotlib.colors.to_rgb(self.pal.label(x)) for x in labs]], aspect="auto",
                   interpolation="nearest")
        axc.imshow([[matplotlib.colors.to_rgb(cluster_colour(c)) for c in cls]], aspect="auto",
                   interpolation="nearest")
        for ax, name in ((axl, "label"), (axc, "cluster")):
            ax.set_yticks([0])
            ax.set_yticklabels([name], fontsize=5.5)
            ax.tick_params(length=0, labelbottom=False)
            for s in ax.spines.values():
                s.set_visible(False)
        im = axh.imshow(zmat, aspect="auto", cmap="RdBu_r", vmin=-3, vmax=3,
                        interpolation="nearest", rasterized=True)
        fl = [feats[j] for j in forder]
        step = max(1, int(math.ceil(len(fl) / 40)))
        axh.set_yticks(range(0, len(fl), step))
        axh.set_yticklabels(fl[::step], fontsize=5 if len(fl) > 16 else 6)
        axh.set_xticks([])
        axh.set_xlabel("Samples (%d), ordered by published label then %s cluster" % (
            len(samples), method_name(m)))
        axh.set_ylabel("Latent feature")
        # Label blocks named under the colour bar.
        start = 0
        for i in range(1, len(labs) + 1):
            if i == len(labs) or labs[i] != labs[start]:
                if i - start >= max(3, len(labs) * 0.04):
                    axl.text((start + i - 1) / 2, -0.7, labs[start], ha="center", va="bottom",
                             fontsize=5.5)
                start = i
        cb = fig.colorbar(im, cax=axb)
        cb.set_label("z-score", fontsize=6)
        cb.ax.tick_params(labelsize=5.5)
        axl.set_title("%s latent features" % fs_name(fs), pad=9)
        self.save(fig, "latent_heatmap_%s" % fs, sec, "%s latent features ordered by published "
                  "label" % fs_name(fs),
                  "Samples x latent features (each feature z-scored over samples, clipped at "
                  "+-3); samples ordered by published label then by %s cluster, features by the "
                  "average-linkage tree of 1 - |Pearson r|." % method_name(m))

    def fig_latent_corr(self, fs):
        sec = "Latent features"
        run = self.run
        co = self.corr_order(fs)
        if co is None:
            self.note(sec, "Correlation clustermap of %s: no latent_corr table." % fs_name(fs))
            return
        feats, c, order, segs = co
        n = len(feats)
        gt = run.table(fs, "latent_groups")
        group = {}
        if gt is not None:
            for f, g in zip(gt["feature"], np.asarray(gt["group"], dtype=float)):
                group[f] = int(g)
        size = COL1 if n <= 16 else COL2
        fig = plt.figure(figsize=(size, size * 0.92), layout="constrained")
        gs = fig.add_gridspec(3, 4, height_ratios=[0.16, 0.035, 1],
                              width_ratios=[0.16, 0.035, 1, 0.04])
        axt = fig.add_subplot(gs[0, 2])
        axl = fig.add_subplot(gs[2, 0])
        axg = fig.add_subplot(gs[1, 2])
        axg2 = fig.add_subplot(gs[2, 1])
        axh = fig.add_subplot(gs[2, 2])
        axb = fig.add_subplot(gs[2, 3])
        for (p0, p1, p2, p3) in segs:
            xs = [p0[0], p1[0], p2[0], p3[0]]
            ys = [p0[1], p1[1], p2[1], p3[1]]
            axt.plot(xs, ys, color="#333333", lw=0.5)
            axl.plot(ys, xs, color="#333333", lw=0.5)
        hmax = max([s[1][1] for s in segs] + [1e-9])
        axt.set_xlim(0, n)
        axt.set_ylim(0, hmax * 1.05)
        axl.set_ylim(n, 0)
        axl.set_xlim(hmax * 1.05, 0)
        for ax in (axt, axl):
            ax.axis("off")
        of = [feats[i] for i in order]
        gcol = [matplotlib.colors.to_rgb(GROUP_PALETTE[group[f] % len(GROUP_PALETTE)]
                                         if f in group else UNKNOWN_COLOUR) for f in of]
        axg.imshow([gcol], aspect="auto", interpolation="nearest", extent=(0, n, 1, 0))
        axg2.imshow([[x] for x in gcol], aspect="auto", interpolation="nearest",
                    extent=(0, 1, n, 0))
        for ax in (axg, axg2):
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
        im = axh.imshow(c[np.ix_(order, order)], cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto",
                        interpolation="nearest", extent=(0, n, n, 0), rasterized=True)
        step = max(1, int(math.ceil(n / 64)))
        ticks = np.arange(0, n, step) + 0.5
        fsz = 6 if n <= 16 else (4.5 if n <= 40 else 3.5)
        axh.set_xticks(ticks)
        axh.set_xticklabels(of[::step], rotation=90, fontsize=fsz)
        axh.set_yticks(ticks)
        axh.set_yticklabels(of[::step], fontsize=fsz)
        axh.yaxis.tick_right()
        axh.tick_params(length=0)
        cb = fig.colorbar(im, cax=axb)
        cb.set_label("Pearson r", fontsize=6)
        cb.ax.tick_params(labelsize=5.5)
        if group:
            gs_ = sorted(set(group.values()))
            axt.legend(handles=[Patch(color=GROUP_PALETTE[g % len(GROUP_PALETTE)],
                                      label="group %d" % g) for g in gs_],
                       loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=5.5,
                       title="Feature group")
        axt.set_title("%s latent features: correlation" % fs_name(fs))
        self.save(fig, "latent_corr_%s" % fs, sec, "%s latent feature correlations and groups" %
                  fs_name(fs),
                  "Pearson correlations between the latent features, ordered by the "
                  "average-linkage tree of 1 - |r| (dendrograms); the colour bars give each "
                  "feature's group (the tree cut at eval.groups = %s)." % run.cfg(
                      "eval", "groups", "3"))

    def fig_training(self):
        sec = "Training"
        run = self.run
        models = [m for m in ["vqvae", "ae", "vae"] if run.has("models/%s/history/loss" % m)]
        if not models:
            self.note(sec, "Training curves: no /models/*/history.")
            return
        has_vq = run.has("models/vqvae/history/perplexity")
        fig, axes = plt.subplots(1, 3 if has_vq else 2, figsize=(COL2, 2.0),
                                 layout="constrained")
        for m in models:
            col = FS_COLOUR.get(m)
            loss = np.asarray(run.ds("models/%s/history/loss" % m), dtype=float)
            rec = run.ds("models/%s/history/recon" % m)
            ep = np.arange(1, len(loss) + 1)
            axes[0].plot(ep, loss, color=col, label=fs_name(m))
            if rec is not None:
                axes[1].plot(ep, np.asarray(rec, dtype=float), color=col, label=fs_name(m))
        for ax, name in zip(axes[:2], ("Training loss", "Reconstruction loss")):
            ax.set_xlabel("Epoch")
            ax.set_ylabel(name)
        axes[0].legend()
        if has_vq:
            per = np.asarray(run.ds("models/vqvae/history/perplexity"), dtype=float)
            ep = np.arange(1, len(per) + 1)
            axes[2].plot(ep, per, color=FS_COLOUR["vqvae"], label="perplexity")
            used = run.ds("models/vqvae/history/used_codes")
            if used is not None:
                axes[2].plot(ep, np.asarray(used, dtype=float), color="#444444", ls="--",
                             label="used codes")
            axes[2].set_xlabel("Epoch")
            axes[2].set_ylabel("Codes")
            axes[2].set_ylim(bottom=0)
            axes[2].legend()
            axes[2].set_title("VQ-VAE codebook use")
        self.save(fig, "training", sec, "Training curves",
                  "Loss per epoch of each model (the VQ-VAE loss: reconstruction / data "
                  "variance + codebook + beta x commitment; the VAE's includes the KL term) and "
                  "the VQ-VAE's codebook perplexity and number of used codes.")

    def fig_pancancer(self):
        sec = "Pan-cancer"
        run = self.run
        cancers = run.cancers()
        if len(cancers) < 2:
            self.note(sec, "Pan-cancer heatmaps: summary.tsv has one cancer type (%s); they "
                           "appear for a sweep over several." % (cancers[0] if cancers else
                                                                 "none"))
            return
        best = run.best_rows()
        fss = ordered([k[1] for k in best], FS_ORDER)
        ms = ordered([k[2] for k in best], run.method_order())
        cols = [(f, m) for f in fss for m in ms if any((c, f, m) in best for c in cancers)]
        for col, name, fname in (("logrank_p", "-log10 log-rank p", "pancancer_logrank"),
                                 ("nmi", "NMI vs published labels", "pancancer_nmi")):
            extra = [("published", "label")] if col == "logrank_p" else []
            cc = extra + cols
            m = np.full((len(cancers), len(cc)), np.nan)
            for i, ca in enumerate(cancers):
                for j, (f, me) in enumerate(cc):
                    r = run.published_row(ca) if f == "published" else best.get((ca, f, me))
                    if r is None:
                        continue
                    v = fnum(r.get(col))
                    m[i, j] = -np.log10(max(v, 1e-300)) if col == "logrank_p" and \
                        np.isfinite(v) else v
            if not np.isfinite(m).any():
                self.note(sec, "Pan-cancer %s: no values." % name)
                continue
            w = float(np.clip(1.4 + 0.28 * len(cc), COL1, COL2))
            h = float(np.clip(1.2 + 0.2 * len(cancers), 2.0, 9.0))
            fig, ax = plt.subplots(figsize=(w, h), layout="constrained")
            labels = ["published label" if f == "published" else "%s · %s" % (
                fs_name(f), method_name(me)) for f, me in cc]
            self.heatmap(ax, m, cancers, labels, "magma_r" if col == "logrank_p" else "viridis",
                         0, "p" if col == "logrank_p" else 1, name,
                         annotate=m.size <= 250)
            ax.set_xlabel("Feature set · method")
            ax.set_ylabel("Cancer type")
            self.save(fig, fname, sec, "Pan-cancer: %s" % name,
                      "Per cancer type (rows) and feature set x method (columns): the result at "
                      "the k with the highest silhouette%s." % (
                          "; first column: the published labels' own log-rank p" if extra
                          else ""))

    # ==========================================================================================
    def build(self):
        run = self.run
        self.attempt("Metrics", "metrics_bars", self.fig_metric_bars)
        self.attempt("Metrics", "metrics_heatmaps", self.fig_metric_heatmaps)
        if run.is_sweep:
            self.note("Sweep tasks", "A sweep directory: the figures of one run (maps, label "
                      "flow, survival, differential expression, latent features) are made per "
                      "task with <code>tools/report.sh DIR/tasks/TASK</code> (or <code>--tasks "
                      "best|all</code> here); links below where they exist.")
        elif run.h5 is None:
            self.note("Maps", "No results.h5 in %s: only the figures from summary.tsv." %
                      html.escape(run.dir))
        else:
            self.attempt("Maps", "pca_labels", self.fig_pca_labels)
            self.attempt("Maps", "vqvae_methods", self.fig_vqvae_methods)
            self.attempt("Maps", "vqvae_vs_raw", self.fig_vqvae_vs_raw)
            self.attempt("Maps", "tsne", self.fig_tsne)
            fss = [fs for fs in run.feature_sets()
                   if run.table(fs, "agreement") is not None or run.table(fs, "km") is not None]
            if not fss:
                self.note("Label flow", "No evaluation tables (/eval) in results.h5.")
            for fs in fss:
                self.attempt("Label flow", "flow_" + fs, self.fig_flow, fs)
            self.attempt("Survival", "km_published", self.fig_km_published)
            for fs in fss:
                self.attempt("Survival", "km_" + fs, self.fig_km_clusters, fs)
            for fs in fss:
                self.attempt("Differential expression", "volcano_" + fs, self.fig_volcano, fs)
            enr = [fs for fs in fss if run.table(fs, "enrichment") is not None]
            if fss and not enr:
                self.note("Differential expression", "Enrichment dot plots: no enrichment "
                          "tables (set eval.gmt to a GMT file of gene sets).")
            for fs in enr:
                self.attempt("Differential expression", "enrichment_" + fs, self.fig_enrichment,
                             fs)
            for fs in fss:
                self.attempt("Differential expression", "network_" + fs, self.fig_network, fs)
            lat = [fs for fs in fss if run.table(fs, "latent_heatmap") is not None or
                   run.table(fs, "latent_corr") is not None]
            if fss and not lat:
                self.note("Latent features", "No latent-feature tables (no model feature set "
                          "was evaluated).")
            for fs in lat:
                self.attempt("Latent features", "latent_heatmap_" + fs, self.fig_latent_heatmap,
                             fs)
                self.attempt("Latent features", "latent_corr_" + fs, self.fig_latent_corr, fs)
            self.attempt("Training", "training", self.fig_training)
        self.attempt("Pan-cancer", "pancancer", self.fig_pancancer)

    # -- HTML ----------------------------------------------------------------------------------
    def summary_html(self):
        run = self.run
        out = []
        best = run.best_rows()
        cols = ["cancer", "features", "method", "task", "k", "n_labelled", "nmi", "ari", "purity",
                "silhouette", "logrank_p", "ari_truth", "nmi_truth"]
        cols = [c for c in cols if c in run.summary_cols]
        if not run.summary:
            return "<p class=note>No summary.tsv.</p>"
        rows = [r for r in run.summary if r.get("features") == "published"]
        cancers = run.cancers() or [""]
        for ca in cancers:
            for f in ordered([k[1] for k in best if k[0] == ca], FS_ORDER):
                for m in ordered([k[2] for k in best if k[0] == ca and k[1] == f],
                                 run.method_order()):
                    rows.append(best[(ca, f, m)])
        rows.sort(key=lambda r: cancers.index(r.get("cancer", "")) if r.get("cancer", "")
                  in cancers else 0)

        def cell(c, v):
            x = fnum(v)
            if c in ("features",):
                return html.escape(fs_name(v))
            if c == "method":
                return html.escape(method_name(v))
            if c in ("cancer", "k", "n_labelled") or not np.isfinite(x):
                return html.escape(v or "")
            if c == "logrank_p":
                return fmt_p(x)
            return "%.3f" % x

        def table(rs, cs, hl=None):
            h = ["<table><thead><tr>" + "".join("<th>%s</th>" % html.escape(c) for c in cs) +
                 "</tr></thead><tbody>"]
            for r in rs:
                cls = ' class="pub"' if r.get("features") == "published" else ""
                h.append("<tr%s>" % cls + "".join("<td>%s</td>" % cell(c, r.get(c, ""))
                                                 for c in cs) + "</tr>")
            h.append("</tbody></table>")
            return "".join(h)

        out.append("<p>Each feature set x method at the k with the highest mean silhouette "
                   "(seed %s); first row: the published labels themselves. NMI, ARI and purity "
                   "against the published labels%s.</p>" % (
                       html.escape(run.first_seed()),
                       "; <code>*_truth</code> against the true subtypes of the synthetic "
                       "cohort" if "ari_truth" in cols else ""))
        out.append(table(rows, cols))
        allcols = [c for c in run.summary_cols]
        out.append("<details><summary>All %d rows of summary.tsv</summary>%s</details>" % (
            len(run.summary), table(run.summary, allcols)))
        if run.pancancer:
            hdr = run.pancancer[0]
            body = "".join("<tr>" + "".join("<td>%s</td>" % html.escape(x) for x in r) + "</tr>"
                           for r in run.pancancer[1:])
            out.append("<h3>pancancer.tsv</h3><table><thead><tr>" + "".join(
                "<th>%s</th>" % html.escape(x) for x in hdr) + "</tr></thead><tbody>" + body +
                "</tbody></table>")
        return "\n".join(out)

    def write_html(self, path):
        run = self.run
        order = ["Metrics", "Maps", "Label flow", "Survival", "Differential expression",
                 "Latent features", "Training", "Pan-cancer", "Sweep tasks"]
        secs = ordered([s for s, _, _ in self.items], order)
        title = "OncoVQ report: %s" % (", ".join(run.cancers()) or os.path.basename(
            os.path.abspath(run.dir)))
        version = ""
        if run.h5 is not None and "oncovq_version" in run.h5.attrs:
            version = decode([run.h5.attrs["oncovq_version"]])[0]
        h = ["<!DOCTYPE html>", "<html lang=en><head><meta charset=utf-8>",
             "<title>%s</title>" % html.escape(title), "<style>",
             "body{font-family:Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;"
             "padding:0 1em;color:#222;line-height:1.4}",
             "table{border-collapse:collapse;font-size:12px;margin:0.5em 0}",
             "th,td{border-bottom:1px solid #ddd;padding:2px 8px;text-align:right}",
             "th{background:#f3f3f3}td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}",
             "tr.pub{background:#fff8e0}",
             "figure{margin:1.5em 0;border-top:1px solid #eee;padding-top:0.8em}",
             "figure img{max-width:100%;height:auto}figcaption{font-size:13px;color:#444}",
             ".note{color:#8a5a00;background:#fff8e0;padding:4px 8px;font-size:13px}",
             "nav a{margin-right:1em}details{margin:0.5em 0}", "</style></head><body>",
             "<h1>%s</h1>" % html.escape(title),
             "<p>Run directory <code>%s</code>; %s; generated %s by tools/report.py.</p>" % (
                 html.escape(os.path.abspath(run.dir)),
                 "oncovq %s" % html.escape(version) if version else "no results.h5",
                 datetime.datetime.now().strftime("%Y-%m-%d %H:%M")),
             "<nav><a href='#summary'>Summary</a>" + "".join(
                 "<a href='#%s'>%s</a>" % (self.anchor(s), html.escape(s)) for s in secs) +
             "</nav>",
             "<h2 id=summary>Summary</h2>", self.summary_html()]
        for note in run.notes_io:
            h.append("<p class=note>%s</p>" % html.escape(note))
        for s in secs:
            h.append("<h2 id=%s>%s</h2>" % (self.anchor(s), html.escape(s)))
            for sec, kind, payload in self.items:
                if sec != s:
                    continue
                if kind == "note":
                    h.append("<p class=note>%s</p>" % payload)
                    continue
                f = payload
                png = [x for x in f["files"] if x.endswith(".png")]
                img = png[0] if png else f["files"][0]
                links = " ".join("<a href='%s'>%s</a>" % (html.escape(x), x.rsplit(".", 1)[1]
                                                          .upper()) for x in f["files"])
                h.append("<figure id='%s'><a href='%s'><img src='%s' alt='%s' width=%d></a>"
                         "<figcaption><b>%s.</b> %s [%s]</figcaption></figure>" % (
                             html.escape(f["name"]), html.escape(img), html.escape(img),
                             html.escape(f["title"]), int(f["width"] * 130),
                             html.escape(f["title"]), html.escape(f["caption"]), links))
        if run.tasks:
            if "Sweep tasks" not in secs:
                h.append("<h2 id=sweep-tasks>Sweep tasks</h2>")
            h.append(self.tasks_html())
        h.append("</body></html>")
        with open(path + ".tmp", "w") as fh:
            fh.write("\n".join(h) + "\n")
        os.replace(path + ".tmp", path)

    def tasks_html(self):
        """tasks.tsv of a sweep, with a link to each task's report where one exists."""
        hdr = self.run.tasks[0]
        rows = self.run.tasks[1:]
        h = ["<details open><summary>tasks.tsv (%d tasks)</summary><table><thead><tr>" %
             len(rows) + "".join("<th>%s</th>" % html.escape(x) for x in hdr) +
             "<th>report</th></tr></thead><tbody>"]
        for r in rows:
            task = r[0] if r else ""
            idx = os.path.join(self.run.dir, "tasks", task, "report", "index.html")
            link = ""
            if task and os.path.exists(idx):
                link = "<a href='%s'>figures</a>" % html.escape(os.path.relpath(idx, self.out))
            h.append("<tr>" + "".join("<td>%s</td>" % html.escape(x) for x in r) +
                     "<td>%s</td></tr>" % link)
        h.append("</tbody></table></details>")
        return "".join(h)

    @staticmethod
    def anchor(s):
        return "".join(ch if ch.isalnum() else "-" for ch in s.lower())

    def write_manifest(self, path):
        with open(path, "w") as fh:
            fh.write("name\tsection\ttitle\tfiles\n")
            for sec, kind, f in self.items:
                if kind == "figure":
                    fh.write("%s\t%s\t%s\t%s\n" % (f["name"], sec, f["title"],
                                                   ",".join(f["files"])))


def sweep_tasks(run, which):
    """Task ids of a sweep: every task of tasks.tsv, or those pancancer.tsv names as best."""
    if which == "all":
        return [r[0] for r in (run.tasks or [])[1:] if r]
    out = []
    if run.pancancer:
        hdr = run.pancancer[0]
        cols = [i for i, c in enumerate(hdr) if c.endswith("_task")]
        for r in run.pancancer[1:]:
            out += [r[i] for i in cols if i < len(r) and r[i]]
    return list(dict.fromkeys(out))


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="report.py", description="Figures and an HTML report from an `oncovq run` (or "
        "sweep) directory: DIR/results.h5, DIR/summary.tsv, DIR/eval/*.tsv, DIR/pancancer.tsv.")
    ap.add_argument("dir", help="run directory of oncovq run / sweep")
    ap.add_argument("--out", help="output directory (default DIR/report)")
    ap.add_argument("--dpi", type=int, default=300, help="PNG resolution (default 300)")
    ap.add_argument("--formats", default="png,svg",
                    help="comma-separated image formats, png first (default png,svg; also pdf)")
    ap.add_argument("--quiet", action="store_true", help="only errors on stderr")
    ap.add_argument("--tasks", choices=("none", "best", "all"), default="none",
                    help="for a sweep directory: also report on its tasks (DIR/tasks/<id>/report): "
                    "none (default), best (the tasks pancancer.tsv names), all")
    a = ap.parse_args(argv)
    formats = [f.strip().lower() for f in a.formats.split(",") if f.strip()]
    if "png" not in formats:
        formats.insert(0, "png")
    bad = [f for f in formats if f not in ("png", "svg", "pdf")]
    if bad:
        ap.error("unknown format(s): %s (png, svg, pdf)" % ", ".join(bad))
    if not os.path.isdir(a.dir):
        print("report: %s is not a directory" % a.dir, file=sys.stderr)
        return 2
    run = Run(a.dir)
    if run.h5 is None and not run.summary:
        print("report: %s has neither results.h5 nor summary.tsv (is it an `oncovq run` "
              "output directory?)" % a.dir, file=sys.stderr)
        return 2
    out = a.out or os.path.join(a.dir, "report")
    os.makedirs(out, exist_ok=True)
    task_failed = 0
    if run.is_sweep and a.tasks != "none":
        for task in sweep_tasks(run, a.tasks):
            tdir = os.path.join(a.dir, "tasks", task)
            if not os.path.isdir(tdir):
                continue
            rc = main([tdir, "--dpi", str(a.dpi), "--formats", ",".join(formats)] +
                      (["--quiet"] if a.quiet else []))
            task_failed += rc != 0
    rep = Report(run, out, a.dpi, formats, a.quiet)
    rep.build()
    rep.write_manifest(os.path.join(out, "figures.tsv"))
    index = os.path.join(out, "index.html")
    rep.write_html(index)
    nfig = sum(1 for _, k, _ in rep.items if k == "figure")
    nnote = sum(1 for _, k, _ in rep.items if k == "note")
    if not a.quiet:
        print("report: wrote %s (%d figures, %d notes)" % (index, nfig, nnote), file=sys.stderr)
    if task_failed:
        print("report: the reports of %d task(s) failed" % task_failed, file=sys.stderr)
        return 1
    if rep.failed:
        print("report: %d figure(s) failed: %s" % (len(rep.failed), "; ".join(rep.failed)),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
