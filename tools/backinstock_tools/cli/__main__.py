"""`python -m backinstock_tools.cli`: the `backinstock` command."""

import sys

from backinstock_tools.cli import main

sys.exit(main())
