"""Former home of ``optimizer.atomic``, kept as an alias of it while importers move.

The module object itself is shared (not a copy of its names), so code that replaces one
of its functions (a test forcing the two-rename fallback, say) changes the one that
``atomic_path`` calls.
"""

from __future__ import annotations

import sys

from optimizer import atomic as _atomic

sys.modules[__name__] = _atomic
