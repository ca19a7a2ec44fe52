"""``python -m alertloop.services.ingester``: the same as ``alertloop ingest``."""

import sys

from alertloop.services.ingester.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
