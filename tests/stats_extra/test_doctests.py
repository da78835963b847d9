"""The docstring examples of the issue-5 modules run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["competing", "rmst", "timevarying", "landmark", "irlm", "predict", "cli_irlm"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"metsurv.stats.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
