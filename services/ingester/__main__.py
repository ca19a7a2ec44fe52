"""``python -m services.ingester``: the same as ``alertloop ingest``."""

import sys

from services.ingester.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
