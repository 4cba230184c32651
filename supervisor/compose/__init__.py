"""Resolve compose files and the environment exactly as Docker Compose v2 does."""

import sys

# A document nests up to 1,000 levels (libyaml's maximum nesting depth, yamlsource.MAX_DEPTH) and compose reads templates nested
# thousands deep; building, interpolating, merging and checking them recurse a few frames per
# level, past Python's default limit of 1,000 frames.
RECURSION_LIMIT = 20_000
if sys.getrecursionlimit() < RECURSION_LIMIT:
    sys.setrecursionlimit(RECURSION_LIMIT)
