"""`python -m service` is `program-builder`."""

import sys

from service.process.cli import main

sys.exit(main())
