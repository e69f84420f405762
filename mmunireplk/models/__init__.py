# Copyright (c) mmunireplk contributors. All rights reserved.
from .backbones import *  # noqa: F401,F403
from .inference_form import prepare_for_inference  # noqa: F401
from .layers import *  # noqa: F401,F403
