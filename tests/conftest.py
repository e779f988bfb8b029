import os

# The TOSA reference model forks a debugger for a backtrace on every ERROR_IF / REQUIRE failure; in a
# process that already runs onnxruntime's or torch's threads, that fork can deadlock (seen with tosa-tools 2026.8.0).
os.environ.setdefault("TOSA_MODEL_NO_BACKTRACE", "1")

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, max_examples=200,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=5000,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("REFQUANT_HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="module")
def ggml():
    """ggml's own C library (refquant.peers.ggml: the pywhispercpp wheel's libggml); skips with the reason."""
    from refquant.peers.versions import MissingBackend
    from refquant.peers import ggml as peer
    try:
        return peer.load()
    except MissingBackend as exc:
        pytest.skip(str(exc))
