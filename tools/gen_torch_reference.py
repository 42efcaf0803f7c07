#!/usr/bin/python3
"""PyTorch reference for the autoencoders of include/ovq/model.h (tests/test_torch_ref.c).

For each case below, builds the model of model.h in float32 PyTorch on one small batch, with
the parameters drawn by numpy in the order of the C parameter slab, and writes
tests/fixtures/torch_ref_<case>.txt holding the inputs, the initial slab, the forward outputs,
each loss term, the gradient slab from autograd, and the total loss after each of 10 steps of
torch.optim.Adam (lr 1e-3) on the same batch (and, for the VAE, the same noise).

    /usr/bin/python3 tools/gen_torch_reference.py [OUTDIR]      (default: tests/fixtures)

Needs Debian's python3-torch and python3-numpy. The fixtures are committed; the test does not
need torch.

Slab order (as src/model/model.c builds it): encoder then decoder, each op in order; Linear ->
weight [out][in] then bias [out]; residual block -> W1 [r][h], b1 [r], W2 [h][r], b2 [h]; then
the VQ-VAE codebook [G][K][D/G].

Fixture format: lines starting with '#' are comments; every other record is a line "NAME COUNT"
followed by COUNT numbers (whitespace separated, several per line, %.9e or integers):
    spec           type n_in n_res res_width latent activation codebook_size groups beta
                   kl_weight n_hidden hidden[0..n_hidden)   (type 0 VQ-VAE, 1 AE, 2 VAE;
                   activation 0 GELU, 1 ReLU)
    batch          B data_var                 (global batch = B; data_var = np.var(x))
    omics          n_first                    (optional: model.recon_balance = omics with the
                   columns [0, n_first) one omic, the rest the other: recon is the mean over
                   the two of MSE(block) / np.var(x[:, block]); without it MSE / data_var)
    x              [B][F]
    eps            [B][D]                     (VAE only)
    tensor_offsets slab offset of each parameter tensor, in slab order
    params         [P] initial slab
    z_e            [B][D'] encoder output (D' = 2D for the VAE: mu, then logvar)
    codes          [B][G] nearest codes (VQ-VAE only)
    x_hat          [B][F]
    loss           recon codebook commitment kl total
    grads          [P] gradient of the total loss
    adam_loss      [10] total loss at the parameters after Adam step t = 1..10
"""
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as Fn
except ImportError:
    print("needs python3-torch and python3-numpy (Debian): apt-get install python3-torch "
          "python3-numpy; run with /usr/bin/python3")
    sys.exit(1)

VQVAE, AE, VAE = 0, 1, 2
GELU, RELU = 0, 1
STEPS = 10
LR = 1e-3

BASE = dict(n_in=24, hidden=(16, 12), n_res=1, res_width=6, latent=8, activation=GELU,
            codebook_size=10, groups=1, beta=1.0, kl_weight=1.0, batch=5)
CASES = [
    ("vqvae_g1", dict(type=VQVAE, groups=1, beta=1.0)),
    ("vqvae_g2_beta025", dict(type=VQVAE, groups=2, beta=0.25)),
    ("vqvae_g2_relu", dict(type=VQVAE, groups=2, beta=1.0, activation=RELU)),
    ("ae", dict(type=AE)),
    ("vae", dict(type=VAE, kl_weight=0.5)),
    # Balanced omics: 16 "genes" and 8 "miRNAs" on half the scale, so the weights differ.
    ("vqvae_omics", dict(type=VQVAE, groups=2, beta=0.25, omics=16)),
]
# Thresholds for accepting a draw: codes must not be near ties (relative gap between the best and
# second-best squared distance) and no non-zero ReLU input may be near its kink, at every one of the 11
# parameter states, so float rounding in C cannot pick a different branch than torch.
MIN_CODE_GAP = 0.02
MIN_RELU_INPUT = 1e-4
MIN_DISTINCT_CODES = 3


def build_ops(s):
    """The op lists of model.c's build(): ("linear", in, out), ("act",), ("res", h, r)."""
    h, D = s["hidden"], s["latent"]
    top = h[-1]
    d_out = 2 * D if s["type"] == VAE else D
    enc = [("linear", s["n_in"], h[0]), ("act",)]
    for i in range(1, len(h)):
        enc += [("linear", h[i - 1], h[i]), ("act",)]
    enc += [("res", top, s["res_width"])] * s["n_res"]
    enc += [("linear", top, d_out)]
    dec = [("linear", D, top)]
    dec += [("res", top, s["res_width"])] * s["n_res"]
    for i in range(len(h) - 1, 0, -1):
        dec += [("linear", h[i], h[i - 1]), ("act",)]
    dec += [("linear", h[0], s["n_in"])]
    return enc, dec


def init_params(s, rng):
    """numpy float32 tensors in slab order, with names; torch.nn.Linear's default ranges."""
    enc, dec = build_ops(s)
    tensors = []
    for net_name, ops in (("enc", enc), ("dec", dec)):
        for i, op in enumerate(ops):
            if op[0] == "linear":
                _, n_in, n_out = op
                bd = 1.0 / np.sqrt(n_in)
                tensors.append((f"{net_name}.{i}.w", rng.uniform(-bd, bd, (n_out, n_in))))
                tensors.append((f"{net_name}.{i}.b", rng.uniform(-bd, bd, (n_out,))))
            elif op[0] == "res":
                _, hw, r = op
                b1, b2 = 1.0 / np.sqrt(hw), 1.0 / np.sqrt(r)
                tensors.append((f"{net_name}.{i}.w", rng.uniform(-b1, b1, (r, hw))))
                tensors.append((f"{net_name}.{i}.b", rng.uniform(-b1, b1, (r,))))
                tensors.append((f"{net_name}.{i}.w2", rng.uniform(-b2, b2, (hw, r))))
                tensors.append((f"{net_name}.{i}.b2", rng.uniform(-b2, b2, (hw,))))
    return [(n, t.astype(np.float32)) for n, t in tensors]


class Model:
    """model.h's forward in torch on a list of parameter tensors (slab order)."""

    def __init__(self, s, params):
        self.s = s
        self.enc_ops, self.dec_ops = build_ops(s)
        self.params = params  # list of leaf tensors, slab order
        self.relu_inputs = []  # every tensor that goes into a ReLU (for the kink check)

    def act(self, x):
        if self.s["activation"] == GELU:
            return Fn.gelu(x)
        self.relu_inputs.append(x.detach())
        return torch.relu(x)

    def relu(self, x):
        self.relu_inputs.append(x.detach())
        return torch.relu(x)

    def net(self, ops, x, it):
        for op in ops:
            if op[0] == "linear":
                w, b = next(it), next(it)
                x = Fn.linear(x, w, b)
            elif op[0] == "act":
                x = self.act(x)
            else:
                w1, b1, w2, b2 = next(it), next(it), next(it), next(it)
                x = x + Fn.linear(self.relu(Fn.linear(self.relu(x), w1, b1)), w2, b2)
        return x

    def forward(self, x, data_var, eps):
        s = self.s
        self.relu_inputs = []
        it = iter(self.params)
        B, D = x.shape[0], s["latent"]
        z_e = self.net(self.enc_ops, x, it)
        zero = torch.zeros((), dtype=torch.float32)
        codebook_loss = commitment = kl = zero
        codes = gaps = None
        if s["type"] == AE:
            z = z_e
        elif s["type"] == VAE:
            mu, logvar = z_e[:, :D], z_e[:, D:]
            z = mu + torch.exp(logvar / 2) * eps
            kl = s["kl_weight"] * torch.mean(-0.5 * (1 + logvar - mu ** 2 - torch.exp(logvar)))
        else:
            E = self.params[-1]  # [G][K][d]
            G = s["groups"]
            d = D // G
            zg = z_e.view(B, G, d)
            dist = ((zg.detach()[:, :, None, :] - E.detach()[None, :, :, :]) ** 2).sum(-1)
            codes = torch.argmin(dist, dim=-1)  # [B][G]
            top2 = torch.sort(dist, dim=-1).values[:, :, :2]
            gaps = ((top2[..., 1] - top2[..., 0]) / top2[..., 1]).min().item()
            e = E[torch.arange(G)[None, :], codes].reshape(B, D)  # gathered, with gradient
            codebook_loss = Fn.mse_loss(e, z_e.detach())
            commitment = s["beta"] * Fn.mse_loss(z_e, e.detach())
            z = z_e + (e - z_e).detach()
        x_hat = self.net(self.dec_ops, z, it)
        nf = s.get("omics")
        if nf:
            blocks = (slice(0, nf), slice(nf, None))
            recon = sum(Fn.mse_loss(x_hat[:, b], x[:, b]) / torch.var(x[:, b], unbiased=False)
                        for b in blocks) / 2
        else:
            recon = Fn.mse_loss(x_hat, x) / data_var
        total = recon + codebook_loss + commitment + kl
        # Exact zeros (a ReLU of a ReLU output, as in the residual block after a ReLU layer) are the
        # same in C and torch; only small non-zero inputs could fall on different sides.
        relu_min = min((t[t != 0].abs().min().item() for t in self.relu_inputs if (t != 0).any()),
                       default=np.inf)
        return dict(z_e=z_e, codes=codes, x_hat=x_hat, recon=recon, codebook=codebook_loss,
                    commitment=commitment, kl=kl, total=total, code_gap=gaps, relu_min=relu_min)


def run_case(s, seed):
    """Draws a case from seed and runs it; returns (data, ok, why)."""
    rng = np.random.default_rng(seed)
    B, F, D = s["batch"], s["n_in"], s["latent"]
    named = init_params(s, rng)
    x = rng.standard_normal((B, F)).astype(np.float32)
    if s.get("omics"):
        x[:, s["omics"]:] *= np.float32(0.5)
    data_var = float(np.var(x.astype(np.float64)))
    eps = rng.standard_normal((B, D)).astype(np.float32) if s["type"] == VAE else None
    xt = torch.from_numpy(x)
    epst = torch.from_numpy(eps) if eps is not None else None
    if s["type"] == VQVAE:
        # Codebook around the scale of the encoder output, so that the batch uses several codes.
        G, K = s["groups"], s["codebook_size"]
        tmp = Model(s, [torch.from_numpy(t) for _, t in named])
        with torch.no_grad():
            ze = tmp.net(tmp.enc_ops, xt, iter(tmp.params))
        scale = float(ze.std())
        cb = (scale * rng.standard_normal((G, K, D // G))).astype(np.float32)
        named.append(("codebook", cb))
    params = [torch.tensor(t, requires_grad=True) for _, t in named]
    init = np.concatenate([t.reshape(-1) for _, t in named])
    model = Model(s, params)

    out = model.forward(xt, data_var, epst)
    out["total"].backward()
    grads = np.concatenate([p.grad.numpy().reshape(-1) for p in params])
    first = out
    gaps, relus = [out["code_gap"]], [out["relu_min"]]
    opt = torch.optim.Adam(params, lr=LR, foreach=False)
    losses = []
    for _ in range(STEPS):
        opt.step()
        opt.zero_grad()
        out = model.forward(xt, data_var, epst)
        out["total"].backward()
        losses.append(out["total"].item())
        gaps.append(out["code_gap"])
        relus.append(out["relu_min"])

    why = []
    if s["type"] == VQVAE:
        n_codes = len(set(first["codes"].reshape(-1).tolist()))
        if min(gaps) < MIN_CODE_GAP:
            why.append(f"code gap {min(gaps):.3g}")
        if n_codes < MIN_DISTINCT_CODES:
            why.append(f"{n_codes} distinct codes")
    if min(relus) < MIN_RELU_INPUT:
        why.append(f"ReLU input {min(relus):.3g}")
    data = dict(named=named, x=x, data_var=data_var, eps=eps, init=init, first=first,
                grads=grads, losses=losses, gap=min(gaps) if s["type"] == VQVAE else None,
                relu=min(relus))
    return data, not why, ", ".join(why)


def write_record(f, name, values, integer=False):
    values = np.asarray(values).reshape(-1)
    f.write(f"{name} {values.size}\n")
    per = 16 if integer else 6
    for i in range(0, values.size, per):
        chunk = values[i:i + per]
        if integer:
            f.write(" ".join(str(int(v)) for v in chunk) + "\n")
        else:
            f.write(" ".join(f"{float(v):.9e}" for v in chunk) + "\n")


def write_fixture(path, name, s, seed, data):
    first = data["first"]
    with open(path, "w") as f:
        f.write(f"# torch {torch.__version__} reference for tests/test_torch_ref.c, case {name}, "
                f"seed {seed}\n# generated by tools/gen_torch_reference.py; do not edit\n")
        if data["gap"] is not None:
            f.write(f"# smallest relative gap between the two nearest codes over the 11 "
                    f"states: {data['gap']:.3g}\n")
        f.write(f"# smallest |ReLU input| over the 11 states: {data['relu']:.3g}\n")
        off = 0
        offsets = []
        for tname, t in data["named"]:
            f.write(f"# tensor {tname} {list(t.shape)} at {off}\n")
            offsets.append(off)
            off += t.size
        spec = [s["type"], s["n_in"], s["n_res"], s["res_width"], s["latent"], s["activation"],
                s["codebook_size"], s["groups"], s["beta"], s["kl_weight"], len(s["hidden"])]
        spec += list(s["hidden"])
        f.write(f"spec {len(spec)}\n" + " ".join(repr(v) for v in spec) + "\n")
        f.write(f"batch 2\n{s['batch']} {data['data_var']!r}\n")
        if s.get("omics"):
            f.write(f"omics 1\n{s['omics']}\n")
        write_record(f, "x", data["x"])
        if data["eps"] is not None:
            write_record(f, "eps", data["eps"])
        write_record(f, "tensor_offsets", offsets, integer=True)
        write_record(f, "params", data["init"])
        write_record(f, "z_e", first["z_e"].detach().numpy())
        if first["codes"] is not None:
            write_record(f, "codes", first["codes"].numpy(), integer=True)
        write_record(f, "x_hat", first["x_hat"].detach().numpy())
        write_record(f, "loss", [first[k].item() for k in
                                 ("recon", "codebook", "commitment", "kl", "total")])
        write_record(f, "grads", data["grads"])
        write_record(f, "adam_loss", data["losses"])


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    torch.set_num_threads(1)
    for name, over in CASES:
        s = dict(BASE, **over)
        for seed in range(1000, 1100):
            data, ok, why = run_case(s, seed)
            if ok:
                break
            print(f"{name}: seed {seed} rejected ({why})")
        else:
            sys.exit(f"{name}: no acceptable seed")
        path = f"{outdir}/torch_ref_{name}.txt"
        write_fixture(path, name, s, seed, data)
        codes = data["first"]["codes"]
        print(f"{path}: seed {seed}, loss {data['first']['total'].item():.6g} -> "
              f"{data['losses'][-1]:.6g}" +
              (f", codes {codes.reshape(-1).tolist()}" if codes is not None else ""))


if __name__ == "__main__":
    main()
