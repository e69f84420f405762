# Copyright (c) mmunireplk contributors. All rights reserved.
"""Layer-wise learning-rate decay as used by the UniRepLKNet recipes."""
from typing import Dict, List

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor

from mmunireplk.registry import OPTIM_WRAPPER_CONSTRUCTORS

DEPTH_FUNCTIONS = {
    'layer_wise': 'get_layer_depth',
    'stage_wise': 'get_stage_depth',
}


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Optimiser wrapper constructor with layer-wise lr decay, as the
    UniRepLKNet / ConvNeXt recipes group parameters:
    ``lr = base_lr * decay_rate ** (num_layers + 1 - layer_id)`` with the
    id from the backbone's ``get_layer_depth`` (``get_stage_depth`` for
    ``'stage_wise'``). 1-D parameters and biases get no weight decay (GRN
    ``gamma`` / ``beta`` are 4-D and do); frozen parameters are left out.

    ``paramwise_cfg`` keys:
        - ``num_layers`` (int): Layer count of the scheme, e.g. 12.
        - ``decay_rate`` (float): Per-layer decay factor, e.g. 0.8.
        - ``decay_type`` (str): ``'layer_wise'`` (default) or
          ``'stage_wise'``.

    Example:
        >>> optim_wrapper = dict(
        ...     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        ...     constructor='mmunireplk.LayerDecayOptimWrapperConstructor',
        ...     paramwise_cfg=dict(num_layers=12, decay_rate=0.8))
    """

    def add_params(self, params: List[dict], module: nn.Module,
                   **kwargs) -> None:
        """Append one parameter group per (layer id, decay/no-decay)."""
        cfg = self.paramwise_cfg
        for key in ('num_layers', 'decay_rate'):
            if key not in cfg:
                raise KeyError(f'paramwise_cfg of {type(self).__name__} '
                               f'needs {key!r}; got {dict(cfg)}')
        num_layers = int(cfg['num_layers'])
        decay_rate = float(cfg['decay_rate'])
        decay_type = cfg.get('decay_type', 'layer_wise')
        if decay_type not in DEPTH_FUNCTIONS:
            raise ValueError(f'Unknown lr decay_type {decay_type!r}; choose '
                             f'one of {list(DEPTH_FUNCTIONS)}')
        backbone = getattr(module, 'backbone', module)
        depth_fn = getattr(backbone, DEPTH_FUNCTIONS[decay_type], None)
        if depth_fn is None:
            raise TypeError(
                f'{type(backbone).__name__} has no '
                f'{DEPTH_FUNCTIONS[decay_type]}(), needed for {decay_type} '
                'lr decay')
        prefix = 'backbone.' if backbone is not module else ''

        groups: Dict[str, dict] = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            if param.ndim == 1 or name.endswith('.bias'):
                decay_name, weight_decay = 'no_decay', 0.
            else:
                decay_name, weight_decay = 'decay', self.base_wd
            layer_id, _ = depth_fn(name, prefix, num_layers=num_layers)
            group_name = f'layer_{layer_id}_{decay_name}'
            if group_name not in groups:
                scale = decay_rate**(num_layers + 1 - layer_id)
                groups[group_name] = dict(
                    params=[],
                    param_names=[],
                    lr=self.base_lr * scale,
                    lr_scale=scale,
                    group_name=group_name)
                if weight_decay is not None:
                    groups[group_name]['weight_decay'] = weight_decay
            groups[group_name]['params'].append(param)
            groups[group_name]['param_names'].append(name)

        logger = MMLogger.get_current_instance()
        summary = [
            f'{name}: lr_scale {g["lr_scale"]:.4g}, weight_decay '
            f'{g.get("weight_decay", "default")}, {len(g["params"])} params'
            for name, g in sorted(
                groups.items(), key=lambda kv: int(kv[0].split('_')[1]))
        ]
        logger.info(f'{decay_type} lr decay (rate {decay_rate}, num_layers '
                    f'{num_layers}), {len(groups)} groups:\n  ' +
                    '\n  '.join(summary))
        params.extend(groups.values())
