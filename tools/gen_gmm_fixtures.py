#!/usr/bin/python3
"""Reference fixtures for tests/test_gmm.c, from scikit-learn's GaussianMixture.

Writes tests/fixtures/gmm_full.txt, gmm_diag.txt and gmm_spherical.txt: small data sets (float32
values, 2-5 features, 3-4 overlapping clusters) and, per case, given initial parameters
(weights_init, means_init, precisions_init) and what
sklearn.mixture.GaussianMixture(n_components=k, covariance_type=..., reg_covar=..., tol=...,
max_iter=..., weights_init=..., means_init=..., precisions_init=...) fitted on the float64 values
returns: predict() labels, weights_, means_, covariances_, lower_bound_, bic(X), n_iter_,
converged_. Cases cover convergence by tol, a run stopped by max_iter, a large reg_covar and a
component that starts far from the data.

Run with Debian's interpreter, which has python3-sklearn and python3-numpy:
    /usr/bin/python3 tools/gen_gmm_fixtures.py
Output is deterministic (fixed seeds). The script prints, per case, the smallest margin between
a sample's best and second-best log responsibility (labels nearly tied could legitimately differ)
and the smallest distance of an iteration's lower-bound change from tol (a change within
rounding of tol could stop one iteration earlier or later); cases keep both large.
"""
import os
import sys
import warnings

try:
    import numpy as np
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture
except ImportError as e:
    sys.exit(f"{e}: install python3-sklearn python3-numpy (Debian) and run with /usr/bin/python3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures")


def fmt32(values):
    return " ".join("%.9g" % v for v in np.asarray(values, dtype=np.float32).ravel())


def fmt64(values):
    return " ".join("%.17g" % v for v in np.asarray(values, dtype=np.float64).ravel())


def data(rng, n, d, k, sep):
    """k Gaussian clusters with random covariances, centres sep * N(0, 1) apart."""
    centres = rng.normal(0.0, sep, size=(k, d))
    lab = rng.integers(0, k, size=n)
    x = np.empty((n, d))
    for c in range(k):
        a = rng.normal(0.0, 1.0, size=(d, d)) / np.sqrt(d) + 0.5 * np.eye(d)
        idx = lab == c
        x[idx] = centres[c] + rng.normal(size=(idx.sum(), d)) @ a
    return x.astype(np.float32), centres


def given(rng, x, centres, cov_type, far=None):
    """Initial parameters near (not at) the truth."""
    k, d = centres.shape
    w = rng.uniform(0.5, 1.5, size=k)
    w /= w.sum()
    means = centres + rng.normal(0.0, 0.7, size=(k, d))
    if far is not None:
        means[far] = x.max(axis=0) + 10.0
    if cov_type == "full":
        prec = []
        for _ in range(k):
            a = rng.normal(size=(d, d)) * 0.3 + np.eye(d)
            prec.append(np.linalg.inv(a @ a.T))
        prec = np.array(prec)
        prec = 0.5 * (prec + prec.transpose(0, 2, 1))  # exactly symmetric
    elif cov_type == "diag":
        prec = rng.uniform(0.3, 2.0, size=(k, d))
    else:
        prec = rng.uniform(0.3, 2.0, size=k)
    return w, means, prec


def fit(x64, k, cov_type, reg, tol, max_iter, w, means, prec):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(n_components=k, covariance_type=cov_type, reg_covar=reg, tol=tol,
                               max_iter=max_iter, weights_init=w, means_init=means,
                               precisions_init=prec).fit(x64)


def case(out, name, x, cov_type, reg, tol, max_iter, w, means, prec):
    x64 = x.astype(np.float64)
    k = means.shape[0]
    gm = fit(x64, k, cov_type, reg, tol, max_iter, w, means, prec)
    labels = gm.predict(x64)
    # label margins
    lp = gm._estimate_weighted_log_prob(x64)
    lp.sort(axis=1)
    lab_margin = float((lp[:, -1] - lp[:, -2]).min())
    # lower bound after 1 .. n_iter iterations: distance of each change from tol
    lbs = [-np.inf] + [fit(x64, k, cov_type, reg, tol, j, w, means, prec).lower_bound_
                       for j in range(1, gm.n_iter_ + 1)]
    changes = np.abs(np.diff(lbs))[1:]
    tol_margin = float(np.abs(changes - tol).min()) if len(changes) else float("inf")
    out.append(f"case {name} cov {cov_type} k {k} reg_covar {reg!r} tol {tol!r} max_iter {max_iter}")
    out.append("weights_init " + fmt64(w))
    out.append("means_init " + fmt64(means))
    out.append("precisions_init " + fmt64(prec))
    out.append("labels " + " ".join(str(v) for v in labels))
    out.append("weights " + fmt64(gm.weights_))
    out.append("means " + fmt64(gm.means_))
    out.append("covariances " + fmt64(gm.covariances_))
    out.append("lower_bound %.17g" % gm.lower_bound_)
    out.append("bic %.17g" % gm.bic(x64))
    out.append(f"n_iter {gm.n_iter_}")
    out.append(f"converged {int(gm.converged_)}")
    out.append("end")
    print(f"  {name}: k={k} n_iter={gm.n_iter_} converged={gm.converged_} "
          f"lower_bound={gm.lower_bound_:.6g} label margin {lab_margin:.3g} "
          f"|change - tol| margin {tol_margin:.3g}")
    assert lab_margin > 1e-6 and tol_margin > 1e-9, name


def main():
    os.makedirs(OUT, exist_ok=True)
    for t, cov_type in enumerate(["full", "diag", "spherical"]):
        rng = np.random.default_rng(20261125 + t)
        out = [f"# Gaussian mixture reference: sklearn.mixture.GaussianMixture(covariance_type="
               f"'{cov_type}', weights_init, means_init, precisions_init)",
               f"# generated by tools/gen_gmm_fixtures.py with scikit-learn {sklearn.__version__}"]
        print(f"{cov_type}:")
        # 1. 300 points, 3 features, 3 overlapping clusters: convergence by tol
        x, cen = data(rng, 300, 3, 3, 2.5)
        out.append(f"data {x.shape[0]} {x.shape[1]}")
        out.append(fmt32(x))
        w, m, p = given(rng, x, cen, cov_type)
        case(out, "tol", x, cov_type, 1e-6, 1e-3, 100, w, m, p)
        case(out, "maxiter", x, cov_type, 1e-6, 1e-3, 3, w, m, p)
        case(out, "reg", x, cov_type, 0.1, 1e-4, 200, w, m, p)
        # 2. 400 points, 5 features, 4 clusters, one component starting far from the data,
        #    offset from the origin
        x, cen = data(rng, 400, 5, 4, 3.0)
        x = (x + np.float32(20.0)).astype(np.float32)
        cen = cen + 20.0
        out.append(f"data {x.shape[0]} {x.shape[1]}")
        out.append(fmt32(x))
        w, m, p = given(rng, x, cen, cov_type)
        case(out, "d5k4", x, cov_type, 1e-6, 1e-4, 200, w, m, p)
        w, m, p = given(rng, x, cen, cov_type, far=2)
        case(out, "far", x, cov_type, 1e-6, 1e-4, 200, w, m, p)
        # 3. 250 points, 2 features, 4 clusters
        x, cen = data(rng, 250, 2, 4, 3.0)
        out.append(f"data {x.shape[0]} {x.shape[1]}")
        out.append(fmt32(x))
        w, m, p = given(rng, x, cen, cov_type)
        case(out, "d2k4", x, cov_type, 1e-6, 1e-3, 100, w, m, p)
        path = os.path.join(OUT, f"gmm_{cov_type}.txt")
        with open(path, "w") as f:
            f.write("\n".join(out) + "\n")
        print(f"  wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
