"""``python -m alertloop.services.webhook``: the same as ``alertloop webhook``."""

import sys

from alertloop.services.webhook.cli import main

sys.exit(main())
