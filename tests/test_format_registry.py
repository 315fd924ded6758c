"""One registry of the core formats, and the per-format facts the ops ask."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sps

import jaxsparse as js
from jaxsparse.formats._registry import FORMATS, format_class, format_names
from jaxsparse.ops._operands import kernel_name


def test_every_format_is_registered_by_its_scipy_name():
    assert sorted(format_names()) == ["bsr", "coo", "csc", "csr", "dia"]
    for name, cls in FORMATS.items():
        assert format_class(name) is cls and cls.format_name == name
    with pytest.raises(ValueError, match="format must be one of"):
        format_class("lil")


@pytest.mark.parametrize("name", ["csr", "csc", "coo", "dia", "bsr"])
def test_facts_match_what_each_format_stores(name):
    S = sps.random_array((6, 8), density=0.4, format="csr", rng=np.random.default_rng(0))
    A = js.CSR.from_scipy(S).asformat(name)
    assert type(A) is format_class(name) and A.format == name
    assert kernel_name(A, "matmul") == {"csc": "csr_matmul"}.get(name, f"{name}_matmul")
    if A.entries_in_data:  # data holds the entries themselves, in COO slot order
        np.testing.assert_array_equal(np.asarray(A.data), np.asarray(A.tocoo().data))
    with pytest.raises(ValueError, match="format must be one of"):
        A.asformat("lil")
