"""Hypothesis settings for the hostile-input tests: bounded and repeatable by default.

``SOCIALCARE_HYPOTHESIS_PROFILE=hostile-explore`` runs many more fresh random examples (for a
human hunting crashes); the default ``hostile`` profile is derandomized, so CI runs the same
examples every time and a failure reproduces.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,  # timing is asserted where it matters, not per example on a busy machine
    "database": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # the robustness counter only adds up
    ],
    "print_blob": True,
}
settings.register_profile("hostile", max_examples=150, derandomize=True, **_COMMON)
settings.register_profile("hostile-explore", max_examples=5000, derandomize=False, **_COMMON)
settings.load_profile(os.environ.get("SOCIALCARE_HYPOTHESIS_PROFILE", "hostile"))
