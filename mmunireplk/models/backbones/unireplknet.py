# Copyright (c) mmunireplk contributors. All rights reserved.
"""UniRepLKNet backbone (Ding et al., CVPR 2024) for OpenMMLab 2.x."""
import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mmunireplk.registry import MODELS
from ..layers import LayerNorm2d, UniRepLKNetBlock
from ..pretrained import (read_weights, shape_mismatches, short_list,
                          strip_prefix, unwrap_state_dict)

StateDict = Dict[str, Tensor]


def _kernels_small_to_large(depths: Sequence[int],
                            stage3_pattern: Sequence[int]) -> tuple:
    """Default kernels: 3x3 in stage 1, 13x13 in 2 and 4, a pattern in 3."""
    stage3 = tuple(stage3_pattern) * (depths[2] // len(stage3_pattern))
    return ((3, ) * depths[0], (13, ) * depths[1], stage3,
            (13, ) * depths[3])


def _arch(depths, dims, stage3_pattern) -> dict:
    return dict(
        depths=depths,
        dims=dims,
        kernel_sizes=_kernels_small_to_large(depths, stage3_pattern))


@MODELS.register_module()
class UniRepLKNet(BaseModule):
    """UniRepLKNet backbone (`UniRepLKNet: A Universal Perception
    Large-Kernel ConvNet <https://arxiv.org/abs/2311.15599>`_); parameter
    names follow the public checkpoints.

    Args:
        arch (str | dict): ``'atto'`` ... ``'xlarge'`` (or ``'a' 'f' 'p' 'n'
            't' 's' 'b' 'l' 'xl'``), or a dict with ``depths``, ``dims`` and
            optionally ``kernel_sizes``. Defaults to ``'tiny'``.
        in_channels (int): Input channels. Defaults to 3.
        out_indices (Sequence[int]): Stages whose outputs are returned.
            Later stages are built (checkpoints keep their keys) but not run,
            and frozen so that DDP sees a gradient for every trainable
            parameter. Defaults to ``(0, 1, 2, 3)``.
        out_norm (bool): Apply LayerNorm ``norm{i}`` to each output; False
            builds none, as the ImageNet classifier needs. Defaults to True.
        drop_path_rate (float): Stochastic depth rate, increasing linearly
            over the blocks. Defaults to 0.
        layer_scale_init_value (float, optional): Initial layer scale; None
            or 0 disables it. Defaults to 1e-6.
        kernel_sizes (Sequence[Sequence[int]], optional): Per-block kernel
            sizes overriding the arch's, one sequence per stage.
        frozen_stages (int): -1 freezes nothing, 0 the stem, ``i >= 1`` the
            stem and stages 1..i. Defaults to -1.
        norm_eval (bool): Keep BN layers in eval mode while training.
            Defaults to False.
        with_cp (bool): Activation checkpointing. Defaults to False.
        use_sync_bn (bool): Use SyncBatchNorm. Defaults to False.
        deploy (bool): Build the re-parameterised form. Defaults to False.
        init_cfg (dict | list[dict], optional): ``dict(type='Pretrained',
            checkpoint=PATH_OR_URL)`` loads public ImageNet weights (see
            :meth:`init_weights`).
    """
    arch_settings: Dict[str, dict] = {
        'atto': _arch((2, 2, 6, 2), (40, 80, 160, 320), (13, )),
        'femto': _arch((2, 2, 6, 2), (48, 96, 192, 384), (13, )),
        'pico': _arch((2, 2, 6, 2), (64, 128, 256, 512), (13, )),
        'nano': _arch((2, 2, 8, 2), (80, 160, 320, 640), (13, )),
        'tiny': _arch((3, 3, 18, 3), (80, 160, 320, 640), (13, 3)),
        'small': _arch((3, 3, 27, 3), (96, 192, 384, 768), (13, 3, 3)),
        'base': _arch((3, 3, 27, 3), (128, 256, 512, 1024), (13, 3, 3)),
        'large': _arch((3, 3, 27, 3), (192, 384, 768, 1536), (13, 3, 3)),
        'xlarge': _arch((3, 3, 27, 3), (256, 512, 1024, 2048), (13, 3, 3)),
    }
    arch_aliases: Dict[str, str] = {
        'a': 'atto', 'f': 'femto', 'p': 'pico', 'n': 'nano', 't': 'tiny',
        's': 'small', 'b': 'base', 'l': 'large', 'xl': 'xlarge'
    }  # yapf: disable
    num_stages = 4

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 out_norm: bool = True,
                 drop_path_rate: float = 0.,
                 layer_scale_init_value: Optional[float] = 1e-6,
                 kernel_sizes: Optional[Sequence[Sequence[int]]] = None,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 use_sync_bn: bool = False,
                 deploy: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.depths, self.dims, self.kernel_sizes = self._parse_arch(
            arch, kernel_sizes)
        self.out_indices = self._parse_out_indices(out_indices)
        self.out_norm = bool(out_norm)
        if not -1 <= frozen_stages <= self.num_stages:
            raise ValueError(f'frozen_stages must be in [-1, '
                             f'{self.num_stages}], got {frozen_stages}')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.deploy = deploy

        dims = self.dims
        self.downsample_layers = nn.ModuleList()
        self.downsample_layers.append(
            nn.Sequential(
                nn.Conv2d(in_channels, dims[0] // 2, 3, 2, 1),
                LayerNorm2d(dims[0] // 2), nn.GELU(),
                nn.Conv2d(dims[0] // 2, dims[0], 3, 2, 1),
                LayerNorm2d(dims[0])))
        for i in range(1, self.num_stages):
            self.downsample_layers.append(
                nn.Sequential(
                    nn.Conv2d(dims[i - 1], dims[i], 3, 2, 1),
                    LayerNorm2d(dims[i])))

        dpr = torch.linspace(
            0, drop_path_rate, sum(self.depths), device='cpu').tolist()
        self.stages = nn.ModuleList()
        block_idx = 0
        for i in range(self.num_stages):
            self.stages.append(
                nn.Sequential(*[
                    UniRepLKNetBlock(
                        dim=dims[i],
                        kernel_size=self.kernel_sizes[i][j],
                        drop_path=dpr[block_idx + j],
                        layer_scale_init_value=layer_scale_init_value,
                        deploy=deploy,
                        with_cp=with_cp,
                        use_sync_bn=use_sync_bn)
                    for j in range(self.depths[i])
                ]))
            block_idx += self.depths[i]

        if self.out_norm:
            for i in self.out_indices:
                self.add_module(f'norm{i}', LayerNorm2d(dims[i]))

        self._freeze_stages()

    def _parse_arch(self, arch, kernel_sizes) -> Tuple[tuple, tuple, tuple]:
        if isinstance(arch, str):
            name = self.arch_aliases.get(arch.lower(), arch.lower())
            if name not in self.arch_settings:
                valid = list(self.arch_settings) + list(self.arch_aliases)
                raise ValueError(f'Unknown UniRepLKNet arch {arch!r}; valid '
                                 f'archs are {valid} or a dict with '
                                 '"depths", "dims" and optionally '
                                 '"kernel_sizes"')
            arch = self.arch_settings[name]
        elif isinstance(arch, dict):
            missing = {'depths', 'dims'} - set(arch)
            if missing:
                raise ValueError(f'A custom UniRepLKNet arch needs the keys '
                                 f'{sorted(missing)}; got {sorted(arch)}')
        else:
            raise TypeError(f'arch must be a str or a dict, got {type(arch)}')
        depths = tuple(int(d) for d in arch['depths'])
        dims = tuple(int(d) for d in arch['dims'])
        if len(depths) != self.num_stages or len(dims) != self.num_stages:
            raise ValueError(f'depths and dims need {self.num_stages} values, '
                             f'got {depths} and {dims}')
        if kernel_sizes is None:
            kernel_sizes = arch.get('kernel_sizes')
        if kernel_sizes is None:
            raise ValueError('A custom arch without "kernel_sizes" needs the '
                             '"kernel_sizes" argument')
        kernel_sizes = tuple(tuple(int(k) for k in ks) for ks in kernel_sizes)
        if tuple(len(ks) for ks in kernel_sizes) != depths:
            raise ValueError(f'kernel_sizes must give one kernel per block '
                             f'(depths {depths}), got {kernel_sizes}')
        return depths, dims, kernel_sizes

    def _parse_out_indices(self, out_indices) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        parsed = []
        for index in out_indices:
            if not -self.num_stages <= index < self.num_stages:
                raise ValueError(f'out_indices must be in [-4, 3], got '
                                 f'{index}')
            parsed.append(index % self.num_stages)
        return tuple(sorted(set(parsed)))

    @property
    def num_run_stages(self) -> int:
        """How many stages the forward runs: up to the last output."""
        return max(self.out_indices) + 1 if self.out_indices else 0

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        outs = []
        for i in range(self.num_run_stages):
            x = self.downsample_layers[i](x)
            x = self.stages[i](x)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x) if self.out_norm else x
                # LayerNorm2d returns a channels-last strided view; necks
                # keep that layout, and ops that index raw NCHW memory
                # (e.g. mmcv's RoIAlign) would read scrambled features.
                outs.append(out.contiguous())
        return tuple(outs)

    def _frozen_modules(self) -> List[nn.Module]:
        """Those of ``frozen_stages`` and the stages after the last output."""
        modules = []
        if self.frozen_stages >= 0:
            modules.append(self.downsample_layers[0])
        for i in range(self.frozen_stages):
            modules += [self.downsample_layers[i], self.stages[i]]
            if self.out_norm and i in self.out_indices:
                modules.append(getattr(self, f'norm{i}'))
        for i in range(self.num_run_stages, self.num_stages):
            modules += [self.downsample_layers[i], self.stages[i]]
        return modules

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'UniRepLKNet':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def switch_to_deploy(self) -> 'UniRepLKNet':
        """Re-parameterise every block in place (exact in eval mode to fp32
        rounding; idempotent; the frozen state is kept)."""
        for module in self.modules():
            if isinstance(module, UniRepLKNetBlock):
                module.reparameterize()
        self.deploy = True
        self._freeze_stages()
        return self

    def init_weights(self) -> None:
        """Initialise like the reference, then load the weights of
        ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=None,
        map_location='cpu', trust_checkpoint=False)`` (path or URL, read
        weights-only unless trusted) with :meth:`load_pretrained_weights`.
        """
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                trunc_normal_(module.weight, std=.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        if isinstance(self.init_cfg, dict) and \
                self.init_cfg.get('type') == 'Pretrained':
            filename = self.init_cfg['checkpoint']
            checkpoint = read_weights(
                filename,
                map_location=self.init_cfg.get('map_location', 'cpu'),
                trust=self.init_cfg.get('trust_checkpoint') or None)
            self.load_pretrained_weights(
                self.extract_state_dict(checkpoint,
                                        self.init_cfg.get('prefix')),
                source=filename)
            self._is_init = True
        elif self.init_cfg is not None:
            super().init_weights()
        else:
            self._is_init = True
        # Re-apply freezing so that loaded weights keep requires_grad=False.
        self._freeze_stages()

    def load_pretrained_weights(self,
                                state_dict: Mapping[str, Tensor],
                                source: str = 'checkpoint',
                                logger: Optional[MMLogger] = None) -> None:
        """Load un-prefixed backbone weights non-strictly and log a summary.

        Missing or unexpected keys are logged (e.g. fresh output norms).

        Raises:
            RuntimeError: For weights of the other form (training / deploy)
                or when no key matches.
            ValueError: If shapes differ (every mismatching key is named).
        """
        logger = logger or MMLogger.get_current_instance()
        model_state = self.state_dict()
        self.check_forms(model_state, state_dict, source)
        mismatched = shape_mismatches(model_state, state_dict)
        if mismatched:
            raise ValueError(f'Shape mismatch between {source} and the '
                             'model:\n  ' + '\n  '.join(mismatched))
        matched = [k for k in state_dict if k in model_state]
        if not matched:
            raise RuntimeError(
                f'No key of {source} matches the model (checkpoint keys look '
                f'like {short_list(state_dict, 3)}; model keys like '
                f'{short_list(model_state, 3)})')
        result = self.load_state_dict(state_dict, strict=False)
        lines = [
            f'Loaded {len(matched)}/{len(model_state)} tensors from {source}'
        ]
        if result.missing_keys:
            lines.append(f'missing in checkpoint, left initialised '
                         f'({len(result.missing_keys)}): '
                         f'{short_list(result.missing_keys)}')
        if result.unexpected_keys:
            lines.append(f'unexpected in checkpoint, ignored '
                         f'({len(result.unexpected_keys)}): '
                         f'{short_list(result.unexpected_keys)}')
        logger.info('\n  '.join(lines))

    # Checkpoint helpers; static so that converters need no model.

    @staticmethod
    def is_backbone_key(key: str) -> bool:
        """Whether an un-prefixed state-dict key is UniRepLKNet's (and not,
        e.g., the ImageNet classifier's ``norm.*`` / ``head.*``)."""
        head = key.split('.', 1)[0]
        return head in ('downsample_layers', 'stages') or bool(
            re.fullmatch(r'norm\d', head))

    @staticmethod
    def state_dict_form(state_dict: Mapping[str, Tensor]) -> Optional[str]:
        """``'deploy'``, ``'training'`` or None (undecidable) for a state
        dict (any prefix)."""
        if any(k.endswith('pwconv2.0.bias') for k in state_dict):
            return 'deploy'
        if any(k.endswith('pwconv2.2.weight') or '.origin_bn.' in k
               for k in state_dict):
            return 'training'
        return None

    @classmethod
    def check_forms(cls, model_state: Mapping[str, Tensor],
                    state_dict: Mapping[str, Tensor], source: str) -> None:
        """Raise RuntimeError (naming the fix) if the weights are of the
        other form (training vs deploy) than the model's."""
        model_form = cls.state_dict_form(model_state)
        ckpt_form = cls.state_dict_form(state_dict)
        if not (model_form and ckpt_form and model_form != ckpt_form):
            return
        if ckpt_form == 'deploy':
            raise RuntimeError(f'{source} is in the deploy (re-parameterised) '
                               'form but the model is in the training form: '
                               'build the backbone with deploy=True to load '
                               'it')
        raise RuntimeError(f'{source} is in the training form but the model '
                           'is in the deploy (re-parameterised) form: build '
                           'it with deploy=False, load the weights, then call '
                           'switch_to_deploy()')

    @classmethod
    def extract_state_dict(cls,
                           checkpoint: Mapping,
                           prefix: Optional[str] = None) -> StateDict:
        """The UniRepLKNet weights of a checkpoint: a state dict, maybe
        wrapped in ``state_dict`` / ``model``, maybe with ``module.`` and
        ``backbone.`` prefixes; keys not of the backbone (e.g. the ImageNet
        classifier's ``norm.*`` / ``head.*``) are dropped.

        Args:
            checkpoint (Mapping): The loaded checkpoint.
            prefix (str, optional): Take only keys under this prefix; by
                default ``backbone.`` when any key carries it.

        Raises:
            KeyError: If no key is under ``prefix``.
        """
        state_dict = OrderedDict(unwrap_state_dict(checkpoint))
        if state_dict and all(k.startswith('module.') for k in state_dict):
            state_dict = strip_prefix(state_dict, 'module.')
        if prefix is None and any(
                k.startswith('backbone.') for k in state_dict):
            prefix = 'backbone.'
        if prefix:
            if not prefix.endswith('.'):
                prefix += '.'
            state_dict = strip_prefix(state_dict, prefix)
            if not state_dict:
                raise KeyError(f'No checkpoint key starts with {prefix!r}')
        return OrderedDict(
            (k, v) for k, v in state_dict.items() if cls.is_backbone_key(k))

    @classmethod
    def infer_arch(cls, state_dict: Mapping[str, Tensor]) -> dict:
        """The constructor arguments (``UniRepLKNet(**kwargs)``) of an
        un-prefixed state dict of either form.

        Raises:
            KeyError: If the keys do not look like a UniRepLKNet.
        """
        dims, depths, kernel_sizes = [], [], []
        for i in range(cls.num_stages):
            # The stem's last conv (index 3) gives dims[0].
            key = f'downsample_layers.{i}.{3 if i == 0 else 0}.weight'
            if key not in state_dict:
                raise KeyError(f'{key!r} not found: not a UniRepLKNet state '
                               f'dict (keys look like {list(state_dict)[:3]})')
            dims.append(int(state_dict[key].shape[0]))
            kernels = []
            while True:
                block = f'stages.{i}.{len(kernels)}.dwconv'
                weight = state_dict.get(f'{block}.lk_origin.weight',
                                        state_dict.get(f'{block}.weight'))
                if weight is None:
                    break
                kernels.append(int(weight.shape[-1]))
            depths.append(len(kernels))
            kernel_sizes.append(tuple(kernels))
        has_gamma = any(k.startswith('stages.') and k.endswith('.gamma')
                        for k in state_dict)
        return dict(
            arch=dict(
                depths=tuple(depths),
                dims=tuple(dims),
                kernel_sizes=tuple(kernel_sizes)),
            in_channels=int(
                state_dict['downsample_layers.0.0.weight'].shape[1]),
            out_indices=tuple(i for i in range(cls.num_stages)
                              if f'norm{i}.weight' in state_dict),
            layer_scale_init_value=1e-6 if has_gamma else None,
            deploy=cls.state_dict_form(state_dict) == 'deploy')

    @classmethod
    def reparameterize_state_dict(
            cls, state_dict: Mapping[str, Tensor]) -> StateDict:
        """The deploy form of un-prefixed training-form weights (loaded
        strictly into the inferred architecture, then re-parameterised).

        Raises:
            ValueError: If the weights are already in the deploy form.
        """
        if cls.state_dict_form(state_dict) == 'deploy':
            raise ValueError('The UniRepLKNet weights are already in the '
                             'deploy form')
        model = cls(**cls.infer_arch(state_dict))
        model.load_state_dict(state_dict, strict=True)
        model.eval()
        model.switch_to_deploy()
        return OrderedDict(model.state_dict())

    def get_layer_depth(self,
                        param_name: str,
                        prefix: str = 'backbone.',
                        num_layers: int = 12) -> Tuple[int, int]:
        """ConvNeXt-style layer id for layer-wise lr decay, and
        ``num_layers + 2`` (as mmpretrain's backbones return them).

        Stem 0; stage 1 -> 1; stage 2 and its downsampling -> 2;
        downsampling 3 -> 3; stage-3 block j -> ``3 + j // 3``; stage 4 and
        its downsampling -> ``num_layers``; the rest -> ``num_layers + 1``.
        """
        total = num_layers + 2
        if not param_name.startswith(prefix):
            return num_layers + 1, total
        parts = param_name[len(prefix):].split('.')
        if parts[0] == 'downsample_layers':
            layer_id = (0, 2, 3, num_layers)[int(parts[1])]
        elif parts[0] == 'stages':
            stage_id, block_id = int(parts[1]), int(parts[2])
            layer_id = (1, 2, 3 + block_id // 3, num_layers)[stage_id]
        else:
            layer_id = num_layers + 1
        return layer_id, total

    def get_stage_depth(self,
                        param_name: str,
                        prefix: str = 'backbone.',
                        num_layers: int = 12) -> Tuple[int, int]:
        """ConvNeXt-style stage id for ``stage_wise`` lr decay: downsampling
        0, stage i ``i + 1``, else ``num_layers + 1``; and ``num_layers + 2``.
        """
        total = num_layers + 2
        if not param_name.startswith(prefix):
            return num_layers + 1, total
        parts = param_name[len(prefix):].split('.')
        if parts[0] == 'downsample_layers':
            return 0, total
        if parts[0] == 'stages':
            return int(parts[1]) + 1, total
        return num_layers + 1, total


# The former module-level names of the checkpoint helpers.
is_backbone_key = UniRepLKNet.is_backbone_key
state_dict_form = UniRepLKNet.state_dict_form
infer_arch = UniRepLKNet.infer_arch
reparameterize_state_dict = UniRepLKNet.reparameterize_state_dict
