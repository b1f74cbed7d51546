"""`python -m wafersim`: the same command as `wafersim`."""

import sys

from .cli import main

sys.exit(main())
