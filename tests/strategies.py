"""Hypothesis strategies shared by the tests: random plain data values (what azr.verify.values reads)."""

from __future__ import annotations

from hypothesis import strategies as st

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.complex_numbers(allow_nan=False, allow_infinity=False, max_magnitude=1e300),
    st.text(max_size=8),
    st.binary(max_size=8),
)
"""Every kind of scalar plain data (finite numbers only: NaN and infinities are not plain data)."""

hashable = st.recursive(scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3), max_leaves=6)
"""Values that can be dict keys and set elements."""

plain = st.recursive(
    hashable,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(hashable, inner, max_size=3)
        | st.sets(hashable, max_size=3)
    ),
    max_leaves=10,
)
"""Nested plain data: lists, tuples, dicts, sets and frozensets of scalars."""
