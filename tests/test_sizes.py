"""N and FLOPs per token are computed from the architecture and equal the published table."""

import pytest

from taskladder.errors import ConfigError
from taskladder.sizes import get_size, size_names

# The table of ../shared/data/olmo-ladder/README.md and method.md §3.1-3.2.
PUBLISHED = {
    "190M": (190_354_176, 1_903_391_232),
    "370M": (371_262_464, 3_443_922_944),
    "600M": (597_382_464, None),
    "760M": (758_220_288, 6_373_843_968),
    "1.3B": (1_279_395_840, 10_109_071_360),
    "3.2B": (3_169_537_280, None),
    "7B": (6_887_575_552, 49_412_071_424),
    "13B": (13_202_396_160, 91_335_915_520),
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_counts_match_published_table(name):
    n_params, flops = PUBLISHED[name]
    size = get_size(name)
    assert size.n_params == n_params
    if flops is not None:
        assert size.flops_per_token == flops


def test_190m_breakdown_by_hand():
    size = get_size("190M")
    assert size.block_params == 16 * 768**2 + 4 * 768
    assert size.n_params == 12 * (16 * 768**2) + 100_352 * 768 + 12 * 4 * 768 + 768


def test_aliases_and_order():
    assert get_size("1B") is get_size("1.3B")
    names = size_names()
    assert names[0] == "micro-3xs" and names[-1] == "13B"
    assert names.index("190M") < names.index("370M") < names.index("1.3B")


def test_unknown_size_lists_known():
    with pytest.raises(ConfigError, match="known sizes: micro-3xs, .*190M"):
        get_size("5B")


def test_token_multiple():
    assert get_size("190M").tokens_for_multiple(1) == 20 * 190_354_176
    assert get_size("190M").tokens_for_multiple(0.5) == 10 * 190_354_176
