# Copyright (c) mmunireplk contributors. All rights reserved.
from .optimizers import *  # noqa: F401,F403
