#!/usr/bin/python3
"""SNFtool 2.3 (R) transcribed line by line into NumPy, and the fixture for tests/test_snf.c.

Each function below is the R function of the same name (standardNormalization, dist2,
affinityMatrix, SNF with its normalize and .dominateset, spectralClustering type 3 with
.discretisation); R's 1-based indices become 0-based. Used by tests/test_snf.c through the
fixture it writes:
    tests/fixtures/snf_cases.txt: per case the views (float32 values), parameters, the fused
    matrix W (N x N), the n_clusters + 1 smallest eigenvalues of NL and the labels (0-based).
Run with Debian's interpreter (python3-numpy):
    /usr/bin/python3 tools/snf_reference.py
Deterministic (fixed seeds).
"""
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "snf_cases.txt")
EPS = np.finfo(float).eps  # .Machine$double.eps


def standardNormalization(x):
    x = np.array(x, dtype=np.float64)
    mean = x.mean(axis=0)
    sd = x.std(axis=0, ddof=1)  # R's sd: N - 1
    sd[sd == 0] = 1
    return (x - mean) / sd


def dist2(X, C):
    sumsqX = (X**2).sum(axis=1)
    sumsqC = (C**2).sum(axis=1)
    XC = 2 * (X @ C.T)
    res = sumsqX[:, None] + sumsqC[None, :] - XC
    res[res < 0] = 0
    return res


def dnorm(x, mean, sd):
    # R's dnorm for |z| < 5 (and to within rounding beyond): exp(-z^2/2) / sqrt(2 pi) / sd
    z = (x - mean) / sd
    return 0.398942280401432677939946059934 * np.exp(-0.5 * z * z) / sd


def affinityMatrix(Diff, K=20, sigma=0.5):
    Diff = (Diff + Diff.T) / 2
    np.fill_diagonal(Diff, 0)
    sortedColumns = np.sort(Diff, axis=0).T  # t(apply(Diff, 2, sort))
    sel = sortedColumns[:, 1:K + 1]  # 1:K+1 in R = columns 2..K+1

    def finiteMean(x):
        return np.mean(x[np.isfinite(x)])

    means = np.array([finiteMean(r) for r in sel]) + EPS
    avg = (means[:, None] + means[None, :]) / 2  # outer(means, means, avg), avg = (x + y) / 2
    Sig = avg / 3 * 2 + Diff / 3 + EPS
    Sig[Sig <= EPS] = EPS
    densities = dnorm(Diff, 0, sigma * Sig)
    W = (densities + densities.T) / 2
    return W


def normalize(X):  # SNF's inner normalize (SNFtool 2.3)
    row_sum_mdiag = X.sum(axis=1) - np.diag(X)
    row_sum_mdiag[row_sum_mdiag == 0] = 1
    X = X / (2 * row_sum_mdiag[:, None])
    np.fill_diagonal(X, 0.5)
    return X


def dominateset(xx, KK=20):
    A = np.zeros_like(xx)
    n = xx.shape[1]
    for i in range(xx.shape[0]):
        x = xx[i].copy()
        ix = np.argsort(x, kind="stable")  # sort(x, index.return = TRUE)
        x[ix[: n - KK]] = 0
        A[i] = x
    return A / A.sum(axis=1)[:, None]


def SNF(Wall, K=20, t=20):
    LW = len(Wall)
    Wall = [w.copy() for w in Wall]
    for i in range(LW):
        Wall[i] = normalize(Wall[i])
        Wall[i] = (Wall[i] + Wall[i].T) / 2
    newW = [dominateset(Wall[i], K) for i in range(LW)]
    nextW = [None] * LW
    for _ in range(t):
        for j in range(LW):
            sumWJ = np.zeros_like(Wall[j])
            for k in range(LW):
                if k != j:
                    sumWJ = sumWJ + Wall[k]
            nextW[j] = newW[j] @ (sumWJ / (LW - 1)) @ newW[j].T
        for j in range(LW):
            Wall[j] = normalize(nextW[j])
            Wall[j] = (Wall[j] + Wall[j].T) / 2
    W = np.zeros_like(Wall[0])
    for i in range(LW):
        W = W + Wall[i]
    W = W / LW
    W = normalize(W)
    W = (W + W.T) / 2
    return W


def discretisationEigenVectorData(eigenVector):
    Y = np.zeros_like(eigenVector)
    j = np.argmax(eigenVector, axis=1)  # first maximum, as which(x == max(x))[1]
    Y[np.arange(eigenVector.shape[0]), j] = 1
    return Y


def discretisation(eigenVectors):
    eigenVectors = eigenVectors / np.sqrt((eigenVectors**2).sum(axis=1))[:, None]
    n, k = eigenVectors.shape
    R = np.zeros((k, k))
    R[:, 0] = eigenVectors[int(np.round(n / 2)) - 1, :]  # R's round: half to even
    c = np.zeros(n)
    for j in range(1, k):
        c = c + np.abs(eigenVectors @ R[:, j - 1])
        i = int(np.argmin(c))
        R[:, j] = eigenVectors[i, :]
    lastObjectiveValue = 0
    for _ in range(20):
        eigenDiscrete = discretisationEigenVectorData(eigenVectors @ R)
        U, S, Vt = np.linalg.svd(eigenDiscrete.T @ eigenVectors)
        NcutValue = 2 * (n - S.sum())
        if abs(NcutValue - lastObjectiveValue) < EPS:
            break
        lastObjectiveValue = NcutValue
        R = Vt.T @ U.T
    return eigenDiscrete, eigenVectors


def spectralClustering(affinity, K, type=3):
    d = affinity.sum(axis=1)
    d[d == 0] = EPS
    D = np.diag(d)
    L = D - affinity
    Di = np.diag(1 / np.sqrt(d))
    NL = Di @ L @ Di
    values, vectors = np.linalg.eigh(NL)
    ix = np.argsort(np.abs(values), kind="stable")
    U = vectors[:, ix[:K]]
    U = U / np.sqrt((U**2).sum(axis=1))[:, None]
    eigDiscrete, _ = discretisation(U)
    labels = np.argmax(eigDiscrete, axis=1)
    return labels, np.sort(values)[: K + 1]


def make_views(rng, n, dims, k, sep, noise):
    lab = np.arange(n) % k
    views = []
    for d in dims:
        means = rng.normal(0.0, sep, size=(k, d))
        x = means[lab] + rng.normal(0.0, noise, size=(n, d))
        views.append(x.astype(np.float32))
    return views, lab


def write_case(f, name, views, K, alpha, T, C, truth):
    Wall = [affinityMatrix(dist2(standardNormalization(v), standardNormalization(v)), K, alpha)
            for v in views]
    W = SNF(Wall, K, T) if len(Wall) > 1 else Wall[0]
    labels, ev = spectralClustering(W, C)
    n = views[0].shape[0]
    agree = max(np.mean(labels == truth), 0)
    print(f"{name}: N={n} views={[v.shape[1] for v in views]} eigengap {ev[C] - ev[C - 1]:.4g}, "
          f"label sizes {np.bincount(labels, minlength=C).tolist()}")
    f.write(f"case {name} n {n} views {len(views)} K {K} alpha {alpha!r} T {T} clusters {C}\n")
    for v in views:
        f.write(f"view {v.shape[1]} " + " ".join("%.9g" % x for x in v.ravel()) + "\n")
    f.write("fused " + " ".join("%.17g" % x for x in W.ravel()) + "\n")
    f.write("eigenvalues " + " ".join("%.17g" % x for x in ev) + "\n")
    f.write("labels " + " ".join(str(int(x)) for x in labels) + "\n")
    f.write("end\n")
    return agree


def main():
    rng = np.random.default_rng(20240525)
    print(f"numpy {np.__version__}")
    with open(OUT, "w") as f:
        f.write("# tests/test_snf.c fixture, written by tools/snf_reference.py\n")
        views, t = make_views(rng, 60, [30, 10], 3, 1.0, 1.0)
        write_case(f, "two_views", views, 20, 0.5, 20, 3, t)
        views, t = make_views(rng, 50, [12, 8, 5], 4, 1.2, 1.0)
        write_case(f, "three_views", views, 10, 0.4, 10, 4, t)
        views, t = make_views(rng, 40, [6], 2, 1.5, 1.0)
        write_case(f, "one_view", views, 8, 0.5, 20, 2, t)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    sys.exit(main())
