"""``python -m services.webhook``: the same as ``alertloop webhook``."""

import sys

from services.webhook.cli import main

sys.exit(main())
