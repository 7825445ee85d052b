"""Backend selection: inputs, then config_context, then SECURED_BACKEND, then cython; clear
errors for mixed namespaces, unknown names and a missing compiled core."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import secured
from secured.backend import array_namespace_name, available_backends, get_backend
from secured.exceptions import BackendMismatchError, BackendUnavailableError, ConfigurationError

ROOT = Path(__file__).resolve().parents[2]


def _cupy_like_type():
    """A class whose instances dispatch as cupy arrays (cupy cannot allocate without a GPU);
    selection only looks at the type's module, so this exercises the real dispatch path."""
    return type("ndarray", (), {"__module__": "cupy._core.core"})


def test_default_is_cython(monkeypatch):
    monkeypatch.delenv("SECURED_BACKEND", raising=False)
    assert get_backend().name == "cython"
    assert get_backend(np.zeros(2, np.uint64)).name == "cython"


def test_environment_then_context_precedence(monkeypatch):
    monkeypatch.setenv("SECURED_BACKEND", "numpy")
    assert get_backend().name == "numpy"
    with secured.config_context(backend="cython"):
        assert get_backend().name == "cython"
        assert get_backend(name="numpy").name == "numpy"  # an explicit name wins
    assert get_backend().name == "numpy"


def test_unknown_names_are_clear(monkeypatch):
    monkeypatch.setenv("SECURED_BACKEND", "tpu")
    with pytest.raises(ConfigurationError, match="SECURED_BACKEND"):
        get_backend()
    monkeypatch.delenv("SECURED_BACKEND")
    with pytest.raises(ConfigurationError, match="'backend' setting"):
        with secured.config_context(backend="gpu"):
            pass
    with pytest.raises(ConfigurationError, match="Unknown setting"):
        with secured.config_context(colour="blue"):
            pass
    with pytest.raises(ConfigurationError, match="Unknown backend"):
        get_backend(name="torch")


def test_mixing_numpy_and_cupy_names_both():
    fake_cupy = _cupy_like_type()()
    assert array_namespace_name(fake_cupy) == "cupy"
    with pytest.raises(BackendMismatchError) as info:
        get_backend(np.zeros(2, np.uint64), fake_cupy)
    assert "numpy.ndarray" in str(info.value) and "cupy.ndarray" in str(info.value)
    assert isinstance(info.value, TypeError)


def test_cupy_inputs_cannot_be_forced_onto_a_cpu_backend():
    with pytest.raises(BackendMismatchError, match="cupy"):
        get_backend(_cupy_like_type()(), name="cython")


def test_cupy_unavailable_is_reported(monkeypatch):
    status = available_backends()
    assert status["numpy"] == "ok" and status["cython"] == "ok"
    if status["cupy"] != "ok":
        with pytest.raises(BackendUnavailableError, match="cupy|GPU|CUDA"):
            get_backend(name="cupy")


def test_config_is_local_to_threads():
    import threading

    seen = {}
    with secured.config_context(fractional_bits=20):
        t = threading.Thread(target=lambda: seen.update(secured.get_config()))
        t.start()
        t.join()
        assert secured.get_config()["fractional_bits"] == 20
    assert seen["fractional_bits"] == 16


def test_missing_compiled_core_says_how_to_build(tmp_path):
    """A copy of the package without the built extensions: the error names what it found
    and the build command."""
    shutil.copytree(ROOT / "secured", tmp_path / "secured",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    code = ("from secured.backend import get_backend\n"
            "try:\n    get_backend(name='cython')\n"
            "except ImportError as e:\n    print(type(e).__name__, e)\n"
            "print('numpy backend:', get_backend(name='numpy').name)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "BackendUnavailableError" in out
    assert "make build" in out and "_ring.pyx" in out
    assert "numpy backend: numpy" in out
