# Copyright (c) mmunireplk contributors. All rights reserved.
"""The modules of ``tools/analysis_tools/`` (benchmark, complexity,
gpu_check) import each other as siblings, as they do when a script there
runs: their folder goes on ``sys.path`` once for these tests."""
import os.path as osp
import sys

from tests.helpers import REPO

ANALYSIS_TOOLS = osp.join(REPO, 'tools', 'analysis_tools')
if ANALYSIS_TOOLS not in sys.path:
    sys.path.append(ANALYSIS_TOOLS)
