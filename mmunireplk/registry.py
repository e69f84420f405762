# Copyright (c) mmunireplk contributors. All rights reserved.
"""Registries of the ``mmunireplk`` scope, children of mmengine's roots
(configs reach them as ``'mmunireplk.<Name>'``)."""
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import Registry
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope='mmunireplk',
    locations=['mmunireplk.models'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='mmunireplk',
    locations=['mmunireplk.engine'])
# Data transforms and metrics of the task subpackages (``mmunireplk.det``,
# ``mmunireplk.seg``). No ``locations``: a config imports the subpackage it
# needs, so building one task's entries never imports the other's codebase.
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, scope='mmunireplk')
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope='mmunireplk')
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, scope='mmunireplk',
    locations=['mmunireplk.engine'])
