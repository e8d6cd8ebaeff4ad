"""Score files are split a block of lines at a time (bounded memory); what is parsed and reported is that of
one pass, wherever a block ends."""

from __future__ import annotations

import numpy as np
import pytest

from zrc.core import submission
from zrc.core.findings import Findings


def _parse(data: bytes):
    f = Findings()
    sf = submission.parse_score_file(data, "lexical/dev.txt", f)
    return sf.names.dtype, sf.names.tolist(), sf.scores.tolist(), sf.lines.tolist(), [str(x) for x in f.items]


@pytest.mark.parametrize("data", [
    b"a 1\nbb 2.5\nc -3e2\n\n",
    "a 1\n\u00e9t\u00e9 2\nc 3\n".encode(),   # not ASCII: names stay str
    b"a 1\nb 2\n\nc 3\n",                    # an empty line inside: the careful path, line numbers kept
    b"a 1\nb x\nc 3\n",                      # not a number in a later block
    b"a 1\nb 2 3\nc 3\n",                    # three fields
    b"a 1\nb\nc 3\n",
])
def test_blocks_equal_one_pass(data, monkeypatch):
    whole = _parse(data)
    for chars in (1, 2, 5):
        monkeypatch.setattr(submission, "_BLOCK_CHARS", chars)
        assert _parse(data) == whole


def test_many_blocks_concatenate_in_order(monkeypatch):
    monkeypatch.setattr(submission, "_BLOCK_CHARS", 64)
    names = [f"n{i:05d}" for i in range(2000)]
    data = "".join(f"{n} {i / 7}\n" for i, n in enumerate(names)).encode()
    sf = submission.parse_score_file(data, "x.txt", Findings())
    assert sf.names.tolist() == names and sf.names.dtype.kind == "U"
    np.testing.assert_array_equal(sf.scores, np.arange(2000) / 7)
    np.testing.assert_array_equal(sf.lines, np.arange(1, 2001))
