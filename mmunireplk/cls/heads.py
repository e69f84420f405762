# Copyright (c) mmunireplk contributors. All rights reserved.
"""The ImageNet classifier head of UniRepLKNet for mmpretrain."""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.heads import ClsHead

from mmunireplk.checkpoint import read_checkpoint, unwrap_state_dict
from mmunireplk.checkpoint.convert import strip_ddp_prefix
from mmunireplk.checkpoint.imagenet import is_public_imagenet_layout
from mmunireplk.registry import MODELS

# public-file key -> attribute of this head
_PUBLIC_HEAD_KEYS = (('norm.', 'norm.'), ('head.', 'head.'))


@MODELS.register_module()
class UniRepLKNetClsHead(ClsHead):
    """The reference classifier: global average pooling of the last stage
    (a backbone with ``out_norm=False``), LayerNorm ``norm`` and Linear
    ``head`` (the public files' ``norm.*`` / ``head.*``).

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of the last stage.
        head_init_scale (float): Scales the initial ``head`` weight and bias:
            1.0 from scratch, 0.001 for 22K -> 1K fine-tuning.
            Defaults to 1.0.
        norm_eps (float): LayerNorm epsilon. Defaults to 1e-6.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=...)``
            loads ``norm`` / ``head`` from a public ImageNet file or an
            mmpretrain checkpoint (read weights-only unless
            ``trust_checkpoint=True``). With ``reinit_mismatched_head=True``
            a ``head`` of another class count keeps its initialisation (as
            the reference fine-tunes); otherwise a mismatch is an error.
        **kwargs: ``loss``, ``topk``, ``cal_acc`` of :class:`ClsHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 head_init_scale: float = 1.,
                 norm_eps: float = 1e-6,
                 init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(init_cfg=init_cfg, **kwargs)
        positive = dict(num_classes=num_classes, in_channels=in_channels,
                        head_init_scale=head_init_scale)
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f'{name} must be positive, got {value}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.head_init_scale = float(head_init_scale)
        self.norm = nn.LayerNorm(in_channels, eps=norm_eps)
        self.head = nn.Linear(in_channels, num_classes)

    def pre_logits(self, feats: Union[torch.Tensor, Tuple[torch.Tensor]]
                   ) -> torch.Tensor:
        """Pool and normalise the last stage: (N, C, H, W) -> (N, C)."""
        x = feats[-1] if isinstance(feats, (tuple, list)) else feats
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects (N, '
                             f'{self.in_channels}, H, W) features (a '
                             'backbone with out_norm=False), got '
                             f'{tuple(x.shape)}')
        return self.norm(x.mean((-2, -1)))

    def forward(self, feats: Union[torch.Tensor, Tuple[torch.Tensor]]
                ) -> torch.Tensor:
        """Logits, (N, num_classes)."""
        return self.head(self.pre_logits(feats))

    def init_weights(self) -> None:
        """trunc_normal(.02) / zero bias scaled by ``head_init_scale``, or
        the classifier of a checkpoint named by ``init_cfg``."""
        trunc_normal_(self.head.weight, std=.02)
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.head.weight.mul_(self.head_init_scale)
            self.head.bias.mul_(self.head_init_scale)
        nn.init.ones_(self.norm.weight)
        nn.init.zeros_(self.norm.bias)
        if isinstance(self.init_cfg, dict) and \
                self.init_cfg.get('type') == 'Pretrained':
            if 'checkpoint' not in self.init_cfg:
                raise KeyError('A Pretrained init_cfg needs "checkpoint"')
            self._load_pretrained(
                self.init_cfg['checkpoint'],
                self.init_cfg.get('reinit_mismatched_head', False),
                self.init_cfg.get('trust_checkpoint') or None)
        elif self.init_cfg is not None:
            raise ValueError(f'{type(self).__name__} initialises itself; '
                             'init_cfg can only be None or '
                             f'dict(type="Pretrained", ...), got '
                             f'{self.init_cfg}')
        self._is_init = True

    def _load_pretrained(self,
                         filename: str,
                         reinit_mismatched_head: bool = False,
                         trust: Optional[bool] = None) -> None:
        checkpoint = read_checkpoint(filename, 'cpu', trust)
        if is_public_imagenet_layout(checkpoint):
            layout, prefixes = 'public ImageNet', _PUBLIC_HEAD_KEYS
        else:
            layout, prefixes = 'mmpretrain', (('head.norm.', 'norm.'),
                                              ('head.head.', 'head.'))
        state_dict = strip_ddp_prefix(unwrap_state_dict(checkpoint))
        own = {}
        for src, dst in prefixes:
            for key, value in state_dict.items():
                if key.startswith(src) and key.count('.') == src.count('.'):
                    own[dst + key[len(src):]] = value
        if not own:
            raise KeyError(f'{filename} has no classifier keys '
                           f'({", ".join(p for p, _ in prefixes)}); it '
                           'cannot initialise the head')
        expected = self.state_dict()
        logger = MMLogger.get_current_instance()
        if reinit_mismatched_head and any(
                k.startswith('head.') and k in expected
                and v.shape != expected[k].shape for k, v in own.items()):
            logger.info(
                f'The classifier of {filename} has '
                f'{own["head.weight"].shape[0]} classes, the head '
                f'{self.num_classes}: head.* starts fresh (scaled by '
                f'head_init_scale={self.head_init_scale})')
            own = {k: v for k, v in own.items() if not k.startswith('head.')}
        wrong = [
            f'{k}: checkpoint {tuple(v.shape)} vs head '
            f'{tuple(expected[k].shape)}' for k, v in own.items()
            if k in expected and v.shape != expected[k].shape
        ]
        if wrong:
            raise ValueError(f'Classifier of {filename} does not fit the '
                             'head (e.g. a different num_classes):\n  ' +
                             '\n  '.join(wrong))
        result = self.load_state_dict(own, strict=False)
        if result.unexpected_keys:
            raise KeyError(f'Unexpected classifier keys in {filename}: '
                           f'{result.unexpected_keys}')
        logger.info(
            f'Head loaded from the {layout} layout of {filename} '
            f'({", ".join(sorted(own))})')

    def extra_repr(self) -> str:
        return f'head_init_scale={self.head_init_scale}'
