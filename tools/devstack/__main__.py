"""`python -m tools.devstack` (what `make run` calls): run the stack until Ctrl-C."""

import sys

from tools.devstack.cli import main

sys.exit(main())
