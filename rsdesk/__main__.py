"""`python -m rsdesk` is the same as the `rsdesk` command."""

import sys

from rsdesk.cli import main

sys.exit(main())
