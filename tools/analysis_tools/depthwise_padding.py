# Copyright (c) mmunireplk contributors. All rights reserved.
"""Does the CPU depthwise kernel skip the taps that fall on zero padding?

Times the 13x13 depthwise convs of a deploy UniRepLKNet at one input size
(batch 1, as the deploy blocks run them: NCHW, bias) and prints, per stage,
the nominal GFLOP/s (every K x K tap counted), the share of taps that fall
inside the map, and the time a padding-free kernel would need at the same
rate: a bound on what skipping the padding could save.

Example::

    python tools/analysis_tools/depthwise_padding.py --arch tiny --threads 1
"""
import argparse
import json

import torch
import torch.nn.functional as F

from mmunireplk.models.backbones import UniRepLKNet

# a module beside this script (its folder is on sys.path)
from benchmark import machine_info, time_rounds


def taps_inside(size: int, kernel: int) -> float:
    """Share of a 'same' K x K conv's taps on a size x size map that read
    the map rather than its zero padding."""
    r = kernel // 2
    per_dim = sum(min(size - 1, i + r) - max(0, i - r) + 1
                  for i in range(size))
    return per_dim**2 / (size * size * kernel * kernel)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', default='tiny')
    parser.add_argument('--size', type=int, default=224, help='input H = W')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--rounds', type=int, default=30)
    parser.add_argument('--out', help='write the figures as JSON here')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = UniRepLKNet(args.arch)
    rows, total, saving = [], 0., 0.
    for i, stage in enumerate(model.stages):
        # each stride-2, padding-1 3x3 conv rounds the map size up
        size = -(-args.size // 2**(i + 2))
        # blocks with a DilatedReparamBlock (kernel >= 7)
        large = [b for b in stage if hasattr(b.dwconv, 'lk_origin')]
        if not large:
            continue
        channels, kernel = model.dims[i], large[0].dwconv.kernel_size
        x = torch.randn(1, channels, size, size)
        w, b = torch.randn(channels, 1, kernel, kernel), torch.randn(channels)
        with torch.no_grad():
            seconds = time_rounds(
                {'conv': lambda: F.conv2d(
                    x, w, b, padding=kernel // 2, groups=channels)},
                args.rounds, warmup=2, device='cpu')['conv']
        ms = seconds * 1e3
        share = taps_inside(size, kernel)
        row = dict(
            stage=i,
            channels=channels,
            map=size,
            kernel=kernel,
            blocks=len(large),
            ms=ms,
            nominal_gflops=2 * channels * size * size * kernel**2 / seconds /
            1e9,
            taps_inside=share,
            padding_free_bound_ms=ms * share)
        rows.append(row)
        total += len(large) * ms
        saving += len(large) * ms * (1 - share)
        print(f'stage {i}: {channels}x{size}x{size}, {kernel}x{kernel}, '
              f'{len(large)} blocks: {ms:.3f} ms each, nominal '
              f'{row["nominal_gflops"]:.1f} GFLOP/s, taps inside the map '
              f'{share:.0%}, padding-free bound '
              f'{row["padding_free_bound_ms"]:.3f} ms')
    print(f'all large-kernel depthwise convs: {total:.2f} ms per image; '
          f'skipping the padding would save at most {saving:.2f} ms')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(
                dict(
                    machine=machine_info(),
                    threads=args.threads,
                    size=args.size,
                    stages=rows,
                    total_ms=total,
                    max_saving_ms=saving),
                f,
                indent=2)


if __name__ == '__main__':
    main()
