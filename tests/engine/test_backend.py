import types

import pytest

from trtbuild.engine import backend
from trtbuild.errors import BuildError, EngineUnavailableError


@pytest.fixture(autouse=True)
def fresh_backend_cache():
    backend.get_backend.cache_clear()
    yield
    backend.get_backend.cache_clear()


def test_auto_uses_tensorrt_rtx_when_standard_tensorrt_is_absent():
    chosen = backend.get_backend("auto")
    assert chosen.flavour == "tensorrt_rtx" and chosen.is_rtx and chosen.version.startswith("1.")


def test_a_broken_standard_tensorrt_falls_back_to_rtx(monkeypatch):
    # The PyPI `tensorrt` wheel is a stub that fails to import where its libraries cannot be fetched.
    real_find_spec = backend.importlib.util.find_spec
    monkeypatch.setattr(backend.importlib.util, "find_spec",
                        lambda name: object() if name == "tensorrt" else real_find_spec(name))
    real_import = backend.importlib.import_module

    def fake_import(name):
        if name == "tensorrt":
            raise ImportError("libnvinfer.so.10: cannot open shared object file")
        return real_import(name)

    monkeypatch.setattr(backend.importlib, "import_module", fake_import)
    assert backend.get_backend("auto").flavour == "tensorrt_rtx"
    with pytest.raises(BuildError, match="libnvinfer"):
        backend.get_backend("tensorrt")


def test_standard_tensorrt_target_needs_a_gpu(monkeypatch):
    fake = backend.Backend("tensorrt", types.SimpleNamespace(__version__="10.9.0"))
    monkeypatch.setattr(backend, "_cuda_device", lambda: (None, None))
    with pytest.raises(BuildError, match="no CUDA device"):
        fake.target([])
    monkeypatch.setattr(backend, "_cuda_device", lambda: ("NVIDIA L4", "8.9"))
    assert fake.target([]) == {"device": "NVIDIA L4", "compute_capability": "8.9"}


@pytest.mark.parametrize("device, built_for, message", [
    ((None, None), [], "no CUDA device is available"),
    (("NVIDIA H100", "9.0"), [], "TensorRT-RTX runs on compute capability 8.0, 8.6, 8.9, 12.0, 12.1"),
    (("NVIDIA RTX 4090", "8.9"), ["8.6"], "built for compute capability 8.6, but NVIDIA RTX 4090 is 8.9"),
])
def test_hosts_that_cannot_run_an_engine_get_one_clear_error(monkeypatch, device, built_for, message):
    monkeypatch.setattr(backend, "_cuda_device", lambda: device)
    with pytest.raises(EngineUnavailableError, match=message.replace("(", r"\(")):
        backend.get_backend("tensorrt_rtx").check_runnable(built_for)


def test_supported_gpu_passes_the_check(monkeypatch):
    monkeypatch.setattr(backend, "_cuda_device", lambda: ("NVIDIA RTX 4090", "8.9"))
    backend.get_backend("tensorrt_rtx").check_runnable(["8.9"])


def test_compute_capability_targets_are_set_on_the_builder_config():
    rtx = backend.get_backend("tensorrt_rtx")
    config = rtx.trt.Builder(rtx.trt.Logger()).create_builder_config()
    rtx.configure_target(config, ["8.6", "12.0"])
    assert config.num_compute_capabilities == 2
    assert config.get_compute_capability(1) == rtx.trt.ComputeCapability.SM120
