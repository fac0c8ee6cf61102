"""The test suite's fixtures for the fault soaks here (run with tests/run.sh)."""

from tests.conftest import _fast_password_hashing, world  # noqa: F401
from tests.fixtures.orthanc import image_store, orthanc_server  # noqa: F401
from tests.integration.conftest import worker_env, workers  # noqa: F401
from tests.integration.test_classify_job import model_registry  # noqa: F401
