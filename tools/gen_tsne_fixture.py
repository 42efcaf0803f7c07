#!/usr/bin/env python3
"""Reference values from scikit-learn for tests/test_tsne.c.

Run with an interpreter that has numpy and scikit-learn 1.2 (Debian: python3-sklearn):
    /usr/bin/python3 tools/gen_tsne_fixture.py tests/fixtures
Writes tests/fixtures/tsne_blobs.txt:
  "n d k perplexity", n lines of x [d] (4 Gaussian blobs of unequal spread plus uniform noise
  points, float32-representable), n lines of sklearn's embedding [2] (float32),
  "trust" = sklearn.manifold.trustworthiness(x, embedding, n_neighbors=k) of that embedding,
  "trust_bh" = the same for TSNE(method='barnes_hut', angle=0.5) (else the same settings),
  "sklearn_version".
The embedding is TSNE(perplexity, init='pca', learning_rate='auto', method='exact',
random_state=0); its trustworthiness is the bar the C t-SNE must reach within 0.02, and the
embedding itself checks the C trustworthiness to 1e-12. (method='exact' is what the C code
implements for N <= exact_max_n; its Barnes-Hut is the bar for the C Barnes-Hut path.)"""
import os
import sys

try:
    import numpy as np
    import sklearn
    from sklearn.manifold import TSNE, trustworthiness
except ImportError:
    sys.exit("needs numpy and scikit-learn: apt-get install python3-sklearn, "
             "run with /usr/bin/python3")

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
rng = np.random.default_rng(31)
n_blob, d, k, perplexity = 70, 10, 5, 30.0

parts = []
for b, spread in enumerate([0.6, 1.0, 1.5, 2.2]):
    centre = rng.normal(0.0, 4.0, size=d)
    parts.append(centre + spread * rng.normal(size=(n_blob, d)))
parts.append(rng.uniform(-8.0, 8.0, size=(20, d)))  # noise points
x = np.vstack(parts)
x = x[rng.permutation(x.shape[0])].astype(np.float32)
n = x.shape[0]

tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
            method="exact", random_state=0)
y = tsne.fit_transform(x.astype(np.float64)).astype(np.float32)
trust = trustworthiness(x.astype(np.float64), y.astype(np.float64), n_neighbors=k)
print(f"N {n}, d {d}: sklearn {sklearn.__version__} exact t-SNE trustworthiness {trust:.6f}, "
      f"KL {tsne.kl_divergence_:.6f}")
bh = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
          method="barnes_hut", angle=0.5, random_state=0).fit_transform(x.astype(np.float64))
trust_bh = trustworthiness(x.astype(np.float64), bh.astype(np.float64), n_neighbors=k)
print(f"  Barnes-Hut: trustworthiness {trust_bh:.6f}")

with open(os.path.join(out, "tsne_blobs.txt"), "w") as f:
    f.write(f"{n} {d} {k} {perplexity!r}\n")
    for r in x:
        f.write(" ".join(str(v) for v in r) + "\n")
    for r in y:
        f.write(" ".join(str(v) for v in r) + "\n")
    f.write(f"{trust!r}\n{trust_bh!r}\n{sklearn.__version__}\n")
