"""The docstring examples of the public statistics run (and stay true)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["metsurv.stats._times", "metsurv.stats.km", "metsurv.stats.tests",
           "metsurv.stats.cox", "metsurv.stats.cli"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
