"""The prefix sum behind row ids and indptr (an associative scan on CPU)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsparse.ops._scan import prefix_sum


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000, 4097])
def test_prefix_sum_matches_numpy(n):
    rng = np.random.default_rng(n)
    counts = rng.integers(0, 5, n).astype(np.int32)
    np.testing.assert_array_equal(np.asarray(prefix_sum(jnp.asarray(counts))), np.cumsum(counts))
    flags = counts > 2
    out = jax.jit(functools.partial(prefix_sum, dtype=jnp.int64))(jnp.asarray(flags))
    assert out.dtype == jnp.int64
    np.testing.assert_array_equal(np.asarray(out), np.cumsum(flags))


def test_prefix_sum_batches_under_vmap():
    x = np.arange(12, dtype=np.int32).reshape(3, 4)
    np.testing.assert_array_equal(
        np.asarray(jax.vmap(prefix_sum)(jnp.asarray(x))), np.cumsum(x, axis=1)
    )
