"""`python -m tools.demo` (what `make demo` calls): run the scenario and print the report."""

import sys

from tools.demo.cli import main

sys.exit(main())
