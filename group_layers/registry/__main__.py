"""``python -m group_layers.registry``: the same as ``group-layers-registry``."""

import sys

from .server import main

sys.exit(main())
