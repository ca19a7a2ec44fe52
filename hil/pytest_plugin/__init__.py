"""alertloop's pytest plugin (entry point ``pytest11: alertloop``).

Options and markers live in ``options``: each is a flag ``--alertloop-NAME``, an ini key
``alertloop_NAME`` and a variable ``ALERTLOOP_NAME``. Fixtures live in one module per subject and
are re-exported here so pytest finds them through the entry point; every one is named
``alertloop_...``, so none takes the name of another plugin's fixture or a project's own.
"""

from alertloop.hil.pytest_plugin.board_fixtures import *  # noqa: F401,F403
from alertloop.hil.pytest_plugin.capture_fixtures import *  # noqa: F401,F403
from alertloop.hil.pytest_plugin.conformance_fixtures import *  # noqa: F401,F403
from alertloop.hil.pytest_plugin.fault_fixtures import *  # noqa: F401,F403
from alertloop.hil.pytest_plugin.ingester_fixtures import *  # noqa: F401,F403
from alertloop.hil.pytest_plugin.options import (  # noqa: F401
    pytest_addoption,
    pytest_configure,
    pytest_terminal_summary,
)
from alertloop.hil.pytest_plugin.pipeline_fixtures import *  # noqa: F401,F403
from alertloop.hil.pytest_plugin.stack_fixtures import *  # noqa: F401,F403
from alertloop.hil.pytest_plugin.webhook_fixtures import *  # noqa: F401,F403

pytest_plugins = ["alertloop.hil.pytest_plugin.bench_fixtures"]
