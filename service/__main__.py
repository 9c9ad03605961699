"""`python -m service` is `program-builder`."""

import sys

from service.cli import main

sys.exit(main())
