"""coerce(): an enum member or its string value, converted once at the boundary."""

from __future__ import annotations

import pytest

from ann2snn.errors import ConfigError
from ann2snn.ir import Encoding, NormMethod, QuantScale, Readout, SoftmaxReadout, coerce


def test_a_member_passes_unchanged():
    assert coerce(Encoding, Encoding.POISSON) is Encoding.POISSON


@pytest.mark.parametrize("cls, text, member", [
    (Encoding, "poisson", Encoding.POISSON), (NormMethod, "max", NormMethod.MAX),
    (QuantScale, "pow2", QuantScale.POW2), (Readout, "spike_count", Readout.SPIKE_COUNT),
    (SoftmaxReadout, "spikes", SoftmaxReadout.SPIKES),
])
def test_a_string_is_looked_up_by_value(cls, text, member):
    assert coerce(cls, text) is member


def test_the_lookup_ignores_case():
    assert coerce(Encoding, "TTFS") is Encoding.TTFS
    assert coerce(NormMethod, "Percentile") is NormMethod.PERCENTILE


@pytest.mark.parametrize("bad", ["gauss", "", 3, None, NormMethod.MAX])
def test_anything_else_is_a_config_error_listing_the_values(bad):
    with pytest.raises(ConfigError) as e:
        coerce(Encoding, bad, "encoding")
    assert str(e.value) == f"encoding must be one of 'analog', 'poisson', 'ttfs', got {bad!r}"


def test_without_a_name_the_error_names_the_enum():
    with pytest.raises(ConfigError, match="^QuantScale must be one of 'integer', 'pow2'"):
        coerce(QuantScale, "float")
