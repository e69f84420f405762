# Copyright (c) mmunireplk contributors. All rights reserved.
"""Config helpers shared by the APIs and the tools."""
from typing import Any, List, Optional

from mmengine.config import Config

SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'nn.SyncBatchNorm', 'SyncBatchNorm')
TASK_SCOPES = {'mmdet': 'det', 'mmseg': 'seg', 'mmpretrain': 'cls'}


def detect_task(cfg: Config) -> Optional[str]:
    """``'det'``, ``'seg'``, ``'cls'`` or None, from ``default_scope`` or
    the scope prefix of the model type (e.g. ``'mmdet.CascadeRCNN'``)."""
    scope = cfg.get('default_scope')
    if scope in TASK_SCOPES:
        return TASK_SCOPES[scope]
    model_type = str(cfg.get('model', {}).get('type', ''))
    return TASK_SCOPES.get(model_type.split('.')[0])


def sync_bn_to_bn(node: Any, path: str = 'cfg') -> List[str]:
    """Replace SyncBN by BN in a config tree in place: SyncBN norm configs
    become ``BN`` and ``use_sync_bn=True`` flags (the UniRepLKNet backbone)
    become False.

    Returns:
        list[str]: The config paths that were changed.
    """
    changed: List[str] = []
    if isinstance(node, dict):
        if node.get('type') in SYNC_BN_TYPES:
            node['type'] = 'BN'
            changed.append(f'{path}.type')
        if node.get('use_sync_bn') is True:
            node['use_sync_bn'] = False
            changed.append(f'{path}.use_sync_bn')
        for key, value in node.items():
            changed += sync_bn_to_bn(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            changed += sync_bn_to_bn(value, f'{path}[{i}]')
    return changed
