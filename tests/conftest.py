import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, max_examples=200,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=5000,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("REFQUANT_HYPOTHESIS_PROFILE", "default"))
