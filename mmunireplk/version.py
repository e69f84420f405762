# Copyright (c) mmunireplk contributors. All rights reserved.
__version__ = '0.1.0'


def parse_version_info(version_str: str) -> tuple:
    """Parse a version string like ``'0.1.0rc1'`` into a tuple."""
    return tuple(int(p) if p.isdigit() else p for p in version_str.split('.'))


version_info = parse_version_info(__version__)
