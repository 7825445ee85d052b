"""The examples in the public modules' docstrings run (doctest)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["secured.progress", "secured.privacy.reports", "secured.privacy.anonymizer", "secured.privacy.protect",
           "secured.mpc.session", "secured.mpc.training", "secured.data", "secured.backend", "secured.synth",
           "secured.synth.copula", "secured.synth.diffusion", "secured.synth.tvae", "secured.synth.dp",
           "secured.privacy.mechanisms", "secured.bias.report", "secured.bias.model", "secured.bias.mitigate",
           "secured.federation.strategies", "secured.federation.secagg", "secured.federation.accounting",
           "secured.federation.mia", "secured.federation.run", "secured.mpc.secagg", "secured.mpc.costs"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
