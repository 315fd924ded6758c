"""A two-layer graph convolutional network trained with ``jax.jit(jax.grad(...))``, its
normalized adjacency a sparse matrix; node classification on a synthetic graph with
community structure, compared with the same model on a dense adjacency.

    python examples/gcn.py                # 200k nodes, ~1M edges (dense: skipped)
    python examples/gcn.py --quick        # 3000 nodes
    python examples/gcn.py --devices 2    # the adjacency and node features sharded

The graph is a stochastic block model: ``--classes`` communities, each node's edges
mostly inside its own. Node features are a noisy class centroid, too noisy to classify
alone, so the model must use the graph. The model is Kipf and Welling's GCN,
``softmax(Â relu(Â X W1) W2)`` with ``Â = D^-1/2 (A + I) D^-1/2``; both layers' ``Â @``
are SpMMs forward and, through ``jax.grad``, transposed SpMMs backward. Training is
full-batch Adam on a random half of the nodes; accuracy is on the other half.

With ``--devices N`` the adjacency is a ``ShardedCSR`` (rows split over the devices,
only the halo of neighbour features exchanged) and the feature matrices live in its
row layout; the weights are replicated. The dense baseline multiplies by ``Â`` as a
dense ``n x n`` array, the way a JAX user would without sparse matrices; it runs only
where that array fits in memory.
"""

import _common

args = _common.setup(__doc__.splitlines()[0], lambda p: (
    p.add_argument("--nodes", type=int, default=200_000),
    p.add_argument("--degree", type=float, default=10.0, help="mean degree"),
    p.add_argument("--classes", type=int, default=8),
    p.add_argument("--features", type=int, default=32),
    p.add_argument("--hidden", type=int, default=32),
    p.add_argument("--steps", type=int, default=100),
    p.add_argument("--dense-limit", type=int, default=8000,
                   help="largest node count the dense baseline runs at")))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sps  # noqa: E402

import jaxsparse as js  # noqa: E402


def community_graph(n, degree, classes, inside=0.5, seed=0):
    """A symmetric stochastic-block-model adjacency (SciPy CSR) and the node classes."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, classes, n)
    members = [np.flatnonzero(label == c) for c in range(classes)]
    m = int(n * degree / 2)
    u = rng.integers(0, n, m)
    same = rng.random(m) < inside
    v = rng.integers(0, n, m)
    for c in range(classes):  # the edges kept inside u's community
        pick = same & (label[u] == c)
        v[pick] = rng.choice(members[c], pick.sum())
    A = sps.coo_array((np.ones(m), (u, v)), shape=(n, n)).tocsr()
    A = ((A + A.T) > 0).astype(np.float32)
    A.setdiag(0)
    A.eliminate_zeros()
    return A.tocsr(), label


def normalized(A):
    """``D^-1/2 (A + I) D^-1/2``, the GCN propagation matrix."""
    A = A + sps.eye_array(A.shape[0], dtype=A.dtype, format="csr")
    d = 1.0 / np.sqrt(np.asarray(A.sum(axis=1)).ravel())
    return (sps.diags_array(d) @ A @ sps.diags_array(d)).astype(np.float32).tocsr()


def features(label, classes, dim, noise=4.0, seed=1):
    rng = np.random.default_rng(seed)
    centroids = rng.standard_normal((classes, dim))
    return (centroids[label] + noise * rng.standard_normal((len(label), dim))).astype(
        np.float32)


def init(dims, seed=2):
    keys = jax.random.split(jax.random.key(seed), len(dims) - 1)
    return [(jax.random.normal(k, (a, b), jnp.float32) * (2.0 / a) ** 0.5,
             jnp.zeros(b, jnp.float32)) for k, a, b in zip(keys, dims[:-1], dims[1:],
                                                           strict=True)]


def gcn(params, adj, X):
    (W1, b1), (W2, b2) = params
    H = jax.nn.relu(adj @ (X @ W1) + b1)
    return adj @ (H @ W2) + b2


def loss(params, adj, X, onehot, mask):
    logp = jax.nn.log_softmax(gcn(params, adj, X))
    return -jnp.sum(mask[:, None] * onehot * logp) / jnp.sum(mask)


def accuracy(params, adj, X, onehot, mask):
    logits = gcn(params, adj, X)
    hit = jnp.sum(onehot * jax.nn.one_hot(jnp.argmax(logits, 1), onehot.shape[1]), axis=1)
    return jnp.sum(mask * hit) / jnp.sum(mask)


def adam_step(lr=0.01, b1=0.9, b2=0.999, eps=1e-8):
    grad = jax.grad(loss)

    @jax.jit
    def step(params, state, adj, X, onehot, mask):
        t, m, v = state
        g = grad(params, adj, X, onehot, mask)
        t = t + 1
        m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        scale = lr * jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        params = jax.tree.map(lambda p, m, v: p - scale * m / (jnp.sqrt(v) + eps),
                              params, m, v)
        return params, (t, m, v)

    return step


def train(adj, X, onehot, train_mask, test_mask, steps, repeats):
    params = init([X.shape[1], args.hidden, onehot.shape[1]])
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = (jnp.float32(0), zeros, zeros)
    step = adam_step()
    jax.block_until_ready(step(params, state, adj, X, onehot, train_mask))  # compile
    step_s, _ = _common.median_time(
        lambda: step(params, state, adj, X, onehot, train_mask), repeats)
    for _ in range(steps):
        # Each step waits for the last: with simulated CPU devices, XLA can start one
        # device's part of the next step early, and the devices' collectives then wait
        # on each other (see sparse_mf.py).
        params, state = jax.block_until_ready(step(params, state, adj, X, onehot,
                                                   train_mask))
    acc = jax.jit(accuracy)
    return step_s, float(acc(params, adj, X, onehot, test_mask)), \
        float(acc(params, adj, X, onehot, train_mask))


def main() -> int:
    n = int((3000 if args.quick else args.nodes) * args.scale)
    steps = 60 if args.quick else args.steps
    mesh = _common.mesh(args.devices)
    A, label = community_graph(n, args.degree, args.classes)
    S = normalized(A)
    X_host = features(label, args.classes, args.features)
    onehot_host = np.eye(args.classes, dtype=np.float32)[label]
    split = np.random.default_rng(3).random(n) < 0.5
    host = {"X": X_host, "onehot": onehot_host, "train": split.astype(np.float32),
            "test": (~split).astype(np.float32)}
    if mesh is None:
        adj = js.CSR.from_scipy(S)
        dev = {k: jnp.asarray(v) for k, v in host.items()}
    else:  # rows of the adjacency and of every node array in the sharded row layout
        adj = js.sharding.shard(S, mesh)
        dev = {k: adj.shard_vector(v) for k, v in host.items()}
    report = _common.Report(
        f"2-layer GCN, node classification: {n} nodes, {A.nnz // 2} edges, "
        f"{args.classes} classes, {args.features} features, hidden {args.hidden}, "
        f"{steps} Adam steps", args,
        adjacency="one device (CSR)" if mesh is None else
        f"sharded over {args.devices} devices ({adj.plan.local_format.upper()} blocks, "
        f"halo by {adj.plan.halo.method})")
    results = {}
    with _common.mesh_context(mesh):
        results["sparse adjacency (jaxsparse)"] = train(
            adj, dev["X"], dev["onehot"], dev["train"], dev["test"], steps, args.repeats)
    if n <= args.dense_limit:
        dense = {k: jnp.asarray(v) for k, v in host.items()}
        results["dense adjacency (jnp)"] = train(
            jnp.asarray(S.toarray()), dense["X"], dense["onehot"], dense["train"],
            dense["test"], steps, args.repeats)
    else:
        report.facts["dense baseline"] = (f"skipped: the dense adjacency would take "
                                          f"{n * n * 4 / 2**30:.1f} GiB")
    chance = float(np.max(np.bincount(label)) / n)
    for name, (step_s, test_acc, train_acc) in results.items():
        report.add(name, step_s, test_accuracy=test_acc, train_accuracy=train_acc)
    ours = results["sparse adjacency (jaxsparse)"][1]
    checks = {f"the GCN classifies (test accuracy {ours:.3f}, chance {chance:.3f})":
              ours > 0.7}
    if "dense adjacency (jnp)" in results:
        theirs = results["dense adjacency (jnp)"][1]
        checks[f"sparse and dense models agree (accuracy {ours:.3f} vs {theirs:.3f})"] = (
            abs(ours - theirs) < 0.01)
        ratio = results["dense adjacency (jnp)"][0] / results["sparse adjacency (jaxsparse)"][0]
        report.facts["step time, dense / sparse"] = f"{ratio:.1f}x"
    return report.show(checks=checks)


if __name__ == "__main__":
    raise SystemExit(main())
