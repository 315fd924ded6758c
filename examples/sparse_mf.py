"""Matrix factorization with biases, trained by mini-batch SGD, with SDDMM in the model:
the paper's sparse machine-learning application (Section 6.2), in JAX.

    python examples/sparse_mf.py               # 200k users, 50k items, 10M ratings
    python examples/sparse_mf.py --quick       # 5k users, 2k items, 200k ratings
    python examples/sparse_mf.py --devices 2   # data-parallel over 2 devices

No data set can be downloaded here, so the ratings are synthetic, MovieLens-like:
user activity and item popularity follow power laws (a few users and items hold most
ratings), and a rating is ``mu + b_u + b_i + <p_u, q_i> + noise`` of a hidden model,
rounded to half stars in ``[0.5, 5]`` (the paper's 50M and 100M sets were themselves
synthetic expansions of MovieLens 20M).

The model predicts ``mu + b_u + b_i + <p_u, q_i>``. A mini-batch is a sparse matrix with
the batch's (user, item) pattern, and its predictions are one SDDMM,
``js.ops.sddmm(batch, P, Q.T)``; ``jax.grad`` of the loss then runs the SDDMM's
transpose, two SpMMs (``E @ Q`` and ``E.T @ P`` on the batch pattern). The whole step,
forward, gradient and SGD update, is one jitted function. With ``--devices N`` the batch
is split over the devices (``shard_map``), each computes its gradient on its own
samples and the gradients are averaged (``pmean``); the parameters are replicated.

The baseline is the same model written with gathers (``(P[u] * Q[i]).sum(1)``), as a
JAX user would without sparse matrices, with the same initialisation and batches;
both report samples per second and the held-out RMSE.
"""

import _common

args = _common.setup(__doc__.splitlines()[0], lambda p: (
    p.add_argument("--users", type=int, default=200_000),
    p.add_argument("--items", type=int, default=50_000),
    p.add_argument("--ratings", type=int, default=10_000_000),
    p.add_argument("--rank", type=int, default=32),
    p.add_argument("--batch", type=int, default=16384),
    p.add_argument("--epochs", type=int, default=3),
    p.add_argument("--lr", type=float, default=0.02),
    p.add_argument("--l2", type=float, default=0.02)))

import time  # noqa: E402
from functools import partial  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import jaxsparse as js  # noqa: E402


def powerlaw_ratings(n_users, n_items, n_ratings, rank, seed=0, alpha=1.2):
    """``(user, item, rating)`` arrays of synthetic power-law ratings (float32)."""
    rng = np.random.default_rng(seed)
    user_w = rng.pareto(alpha, n_users) + 1.0
    item_w = rng.pareto(alpha, n_items) + 1.0
    user = rng.choice(n_users, n_ratings, p=user_w / user_w.sum()).astype(np.int32)
    item = rng.choice(n_items, n_ratings, p=item_w / item_w.sum()).astype(np.int32)
    hidden_p = rng.standard_normal((n_users, rank)) / rank ** 0.5
    hidden_q = rng.standard_normal((n_items, rank)) / rank ** 0.5
    b_u, b_i = 0.3 * rng.standard_normal(n_users), 0.5 * rng.standard_normal(n_items)
    score = (3.5 + b_u[user] + b_i[item] + np.einsum("ij,ij->i", hidden_p[user],
                                                     hidden_q[item])
             + 0.5 * rng.standard_normal(n_ratings))
    rating = np.clip(np.round(score * 2) / 2, 0.5, 5.0).astype(np.float32)
    return user, item, rating


def init_params(n_users, n_items, rank, mu, seed=1):
    k1, k2 = jax.random.split(jax.random.key(seed))
    return {"P": 0.1 * jax.random.normal(k1, (n_users, rank), jnp.float32),
            "Q": 0.1 * jax.random.normal(k2, (n_items, rank), jnp.float32),
            "bu": jnp.zeros(n_users, jnp.float32), "bi": jnp.zeros(n_items, jnp.float32),
            "mu": jnp.float32(mu)}


def predict_sddmm(params, user, item):
    """Predictions of a batch: its (user, item) pattern as a sparse matrix, one SDDMM."""
    n_users, n_items = params["P"].shape[0], params["Q"].shape[0]
    pattern = js.COO.from_arrays(jnp.ones(user.shape[0], jnp.float32), (user, item),
                                 shape=(n_users, n_items))
    dots = js.ops.sddmm(pattern, params["P"], params["Q"].T).data
    return params["mu"] + params["bu"][user] + params["bi"][item] + dots


def predict_gather(params, user, item):
    """The same predictions with gathers (the baseline)."""
    dots = jnp.sum(params["P"][user] * params["Q"][item], axis=1)
    return params["mu"] + params["bu"][user] + params["bi"][item] + dots


def loss(predict, params, user, item, rating, l2):
    err = predict(params, user, item) - rating
    # Weight decay on the rows the batch touches, as SGD for MF does per sample.
    reg = (jnp.sum(params["P"][user] ** 2) + jnp.sum(params["Q"][item] ** 2)
           + jnp.sum(params["bu"][user] ** 2) + jnp.sum(params["bi"][item] ** 2))
    return (jnp.sum(err ** 2) + l2 * reg) / user.shape[0]


def make_step(predict, mesh, lr, l2):
    """One jitted SGD step; with a mesh, data-parallel over its ``x`` axis."""
    def local_grads(params, user, item, rating):
        return jax.grad(partial(loss, predict))(params, user, item, rating, l2)

    grads = local_grads
    if mesh is not None:
        def averaged(params, user, item, rating):
            return jax.lax.pmean(local_grads(params, user, item, rating), "x")
        grads = jax.shard_map(averaged, mesh=mesh, in_specs=(P(), P("x"), P("x"), P("x")),
                              out_specs=P())

    @jax.jit
    def step(params, user, item, rating):
        g = grads(params, user, item, rating)
        # The batch-mean gradient of one row is ~1/batch of its per-sample gradient:
        # scale the step by the batch size, as per-sample SGD would move.
        scale = lr * user.shape[0] / 64
        return jax.tree.map(lambda p, g: p - scale * g, params,
                            {**g, "mu": jnp.zeros_like(g["mu"])})

    return step


def rmse(predict, params, user, item, rating):
    return float(jnp.sqrt(jnp.mean((jnp.clip(predict(params, user, item), 0.5, 5.0)
                                    - rating) ** 2)))


def train(name, predict, data, args, mesh):
    (tr_u, tr_i, tr_r), (te_u, te_i, te_r) = data
    n_users, n_items = args.users, args.items
    params = init_params(n_users, n_items, args.rank, float(tr_r.mean()))
    step = make_step(predict, mesh, args.lr, args.l2)
    batch = args.batch
    n_batches = len(tr_u) // batch
    rng = np.random.default_rng(2)
    put = (lambda a: a) if mesh is None else (
        lambda a: jax.device_put(a, jax.NamedSharding(mesh, P("x"))))
    first = put(jnp.asarray(tr_u[:batch])), put(jnp.asarray(tr_i[:batch])), \
        put(jnp.asarray(tr_r[:batch]))
    jax.block_until_ready(step(params, *first))  # compile
    seconds = 0.0
    for _ in range(args.epochs):
        order = rng.permutation(len(tr_u))  # shuffled each epoch, as in the paper
        batches = [order[b * batch:(b + 1) * batch] for b in range(n_batches)]
        device_batches = [(put(jnp.asarray(tr_u[o])), put(jnp.asarray(tr_i[o])),
                           put(jnp.asarray(tr_r[o]))) for o in batches]
        jax.block_until_ready(device_batches)
        t0 = time.perf_counter()
        for u, i, r in device_batches:
            params = step(params, u, i, r)
            if mesh is not None:
                # Wait for each step: XLA's CPU client can start one device's part of
                # the next step before the other device finished this one, and the two
                # then wait on each other's all-reduce (seen with simulated devices).
                jax.block_until_ready(params)
        jax.block_until_ready(params)
        seconds += time.perf_counter() - t0
    samples = args.epochs * n_batches * batch
    return {"seconds": seconds, "samples_per_s": samples / seconds,
            "test_rmse": rmse(predict_gather, params, te_u, te_i, te_r),
            "train_rmse": rmse(predict_gather, params, tr_u[:200_000], tr_i[:200_000],
                               tr_r[:200_000])}


def main() -> int:
    if args.quick:
        args.users, args.items, args.ratings, args.batch, args.epochs = (
            5_000, 2_000, 200_000, 4096, 4)
    args.users = int(args.users * args.scale)
    args.items = int(args.items * args.scale)
    args.ratings = int(args.ratings * args.scale)
    args.batch = args.batch * args.devices  # the same per-device batch (weak scaling)
    mesh = _common.mesh(args.devices)
    user, item, rating = powerlaw_ratings(args.users, args.items, args.ratings, args.rank)
    n_test = len(user) // 10
    data = ((user[n_test:], item[n_test:], rating[n_test:]),
            (user[:n_test], item[:n_test], rating[:n_test]))
    mean_rmse = float(np.sqrt(np.mean((rating[:n_test] - rating[n_test:].mean()) ** 2)))
    top = np.sort(np.bincount(item, minlength=args.items))[::-1]
    top_share = top[:max(1, args.items // 100)].sum() / len(item)
    report = _common.Report(
        f"matrix factorization with biases, mini-batch SGD: {args.users} users, "
        f"{args.items} items, {len(user)} ratings, rank {args.rank}, batch {args.batch}, "
        f"{args.epochs} epochs", args,
        data=f"power-law: the top 1% of items hold {top_share:.0%} "
             f"of the ratings; predicting the mean gives test RMSE {mean_rmse:.4f}",
        parallel="one device" if mesh is None else
        f"data-parallel over {args.devices} devices (shard_map, pmean of gradients)")
    results = {}
    with _common.mesh_context(mesh):
        for name, predict in (("jaxsparse SDDMM", predict_sddmm),
                              ("JAX gathers (baseline)", predict_gather)):
            results[name] = train(name, predict, data, args, mesh)
    base = results["JAX gathers (baseline)"]["samples_per_s"]
    for name, r in results.items():
        report.add(name, r["seconds"], samples_per_s=r["samples_per_s"],
                   test_rmse=r["test_rmse"], train_rmse=r["train_rmse"],
                   throughput_vs_baseline=r["samples_per_s"] / base)
    ours = results["jaxsparse SDDMM"]["test_rmse"]
    theirs = results["JAX gathers (baseline)"]["test_rmse"]
    return report.show(checks={
        f"the model learns (test RMSE {ours:.4f} < mean predictor {mean_rmse:.4f})":
            ours < 0.97 * mean_rmse,
        f"the SDDMM model matches the gather model ({ours:.4f} vs {theirs:.4f})":
            abs(ours - theirs) < 2e-3,
    })


if __name__ == "__main__":
    raise SystemExit(main())
