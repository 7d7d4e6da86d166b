"""``python -m cellctl.cli``: the ``cellctl`` command."""

import sys

from cellctl.cli.main import main

sys.exit(main())
