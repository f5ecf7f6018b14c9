"""`python -m backinstock_tools.chaos`."""

import sys

from backinstock_tools.chaos.cli import main

sys.exit(main())
