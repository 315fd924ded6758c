"""The library's warnings. They subclass SciPy's, so a filter on either name works:
``warnings.simplefilter("ignore", scipy.sparse.SparseEfficiencyWarning)`` silences ours
too, and a filter on ours silences everything jaxsparse raises."""

from __future__ import annotations

import scipy.sparse as _sps


class SparseWarning(_sps.SparseWarning):
    """General warning of jaxsparse (SciPy's ``scipy.sparse.SparseWarning``)."""


class SparseEfficiencyWarning(_sps.SparseEfficiencyWarning, SparseWarning):
    """An operation that is correct but needlessly expensive for this format."""
