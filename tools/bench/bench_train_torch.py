#!/usr/bin/python3
"""PyTorch peer of `oncovq train` for tools/bench/bench_train.sh: the same VQ-VAE (include/ovq/
model.h: F -> 2048 GELU -> 512 GELU -> Res(512, 64) -> 64, codebook 64 x 64, decoder mirrored),
float32, torch.optim.Adam (lr 1e-3), shuffled minibatches of 256, loss = MSE / var + codebook +
beta * commitment, on data of the same shape.

    /usr/bin/python3 tools/bench/bench_train_torch.py [--threads 1] [--epochs 3]
        [--cohort COHORT.h5 | --samples 1100 --features 21800] [--batch 256]

Runs one warm-up epoch, then times --epochs epochs one by one, and prints a human summary and
key=value lines for the driver script: epoch_s (median of the timed epochs), samples_per_s,
gflops (6 x parameters x samples / time, the issue's nominal count), peak_rss_kb (ru_maxrss).

Data: with --cohort (needs h5py) the cohort's /expression/mrna and /expression/mirna,
standardised per feature with missing values set to the mean, as OncoVQ's stand-in
preprocessing; otherwise standard-normal numbers of the same shape (the time does not depend on
the values). Needs Debian's python3-torch: run with /usr/bin/python3.
"""
import argparse
import resource
import statistics
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as Fn
except ImportError as e:
    print(f"bench_train_torch: cannot import {e.name}. Install Debian's python3-torch and "
          "python3-numpy (apt-get install python3-torch python3-numpy) and run with "
          "/usr/bin/python3, not a virtualenv python.", file=sys.stderr)
    sys.exit(3)


class Res(nn.Module):
    """y = x + W2 relu(W1 relu(x) + b1) + b2 (model.h's residual unit)."""

    def __init__(self, h, r):
        super().__init__()
        self.l1, self.l2 = nn.Linear(h, r), nn.Linear(r, h)

    def forward(self, x):
        return x + self.l2(torch.relu(self.l1(torch.relu(x))))


class VQVAE(nn.Module):
    def __init__(self, F, h1=2048, h2=512, r=64, D=64, K=64, beta=1.0):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(F, h1), nn.GELU(), nn.Linear(h1, h2), nn.GELU(),
                                 Res(h2, r), nn.Linear(h2, D))
        self.dec = nn.Sequential(nn.Linear(D, h2), Res(h2, r), nn.Linear(h2, h1), nn.GELU(),
                                 nn.Linear(h1, F))
        self.codebook = nn.Parameter(torch.empty(K, D).uniform_(-1.0 / K, 1.0 / K))
        self.beta = beta

    def forward(self, x, data_var):
        z_e = self.enc(x)
        E = self.codebook
        # ||z - e||^2 up to the ||z||^2 term, by a GEMM as model.c does.
        with torch.no_grad():
            dist = (E * E).sum(1)[None, :] - 2.0 * z_e @ E.t()
            codes = dist.argmin(1)
        e = E[codes]
        codebook_loss = Fn.mse_loss(e, z_e.detach())
        commitment = self.beta * Fn.mse_loss(z_e, e.detach())
        z = z_e + (e - z_e).detach()  # straight-through
        x_hat = self.dec(z)
        return Fn.mse_loss(x_hat, x) / data_var + codebook_loss + commitment


def load_cohort(path):
    import h5py
    with h5py.File(path, "r") as f:
        x = np.concatenate([f["/expression/mrna"][...], f["/expression/mirna"][...]], axis=1)
    x = x.astype(np.float64)
    mean = np.nanmean(x, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)
    x = np.where(np.isnan(x), mean[None, :], x) - mean[None, :]
    sd = x.std(axis=0)
    x /= np.where(sd > 0, sd, 1.0)[None, :]
    return x.astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs (after 1 warm-up)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--samples", type=int, default=1100)
    ap.add_argument("--features", type=int, default=21800)
    ap.add_argument("--cohort", help="read this cohort (needs h5py) instead of random data")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--foreach", action="store_true",
                    help="torch.optim.Adam(foreach=True) (multi-tensor; 1.13's CPU default is off)")
    ap.add_argument("--keep-grads", action="store_true",
                    help="zero_grad(set_to_none=False): zero the gradient tensors and accumulate "
                         "into them (1.13's default) instead of letting autograd write fresh ones")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    source = "random N(0,1)"
    if a.cohort:
        try:
            x = torch.from_numpy(load_cohort(a.cohort))
            source = a.cohort
        except ImportError:
            print("bench_train_torch: h5py missing, using random data of the same shape",
                  file=sys.stderr)
            a.cohort = None
    if not a.cohort:
        x = torch.randn(a.samples, a.features)
    N, F = x.shape
    data_var = float(x.double().var(unbiased=False))
    model = VQVAE(F)
    P = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=a.foreach)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"data {N} x {F} ({source}), batch {a.batch}, {P} parameters, Adam foreach="
          f"{a.foreach}, zero_grad(set_to_none={not a.keep_grads})", flush=True)

    gen = torch.Generator().manual_seed(a.seed)

    def epoch():
        perm = torch.randperm(N, generator=gen)
        total = 0.0
        for b0 in range(0, N, a.batch):
            xb = x[perm[b0:b0 + a.batch]]  # gather the batch rows, as the C trainer does
            opt.zero_grad(set_to_none=not a.keep_grads)
            loss = model(xb, data_var)
            loss.backward()
            opt.step()
            total += float(loss) * xb.shape[0]
        return total / N

    times = []
    for e in range(a.epochs + 1):
        t0 = time.perf_counter()
        loss = epoch()
        el = time.perf_counter() - t0
        tag = "warm-up" if e == 0 else "timed"
        print(f"epoch {e + 1}/{a.epochs + 1} ({tag})  loss {loss:.5f}  {el:.3f} s  "
              f"{N / el:.1f} samples/s", flush=True)
        if e > 0:
            times.append(el)
    ep = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    gflops = 6.0 * P * N / ep * 1e-9
    print(f"median epoch {ep:.3f} s, {N / ep:.1f} samples/s, {gflops:.1f} GFLOP/s (6PB), "
          f"peak RSS {rss / 1024:.0f} MiB")
    print(f"epoch_s={ep:.6f}")
    print(f"epoch_times={','.join(f'{t:.4f}' for t in times)}")
    print(f"samples_per_s={N / ep:.4f}")
    print(f"gflops={gflops:.4f}")
    print(f"n_params={P}")
    print(f"peak_rss_kb={rss}")


if __name__ == "__main__":
    main()
