"""Many images x many filters on every core: `python -m apps.image_filters`, or reuse `build_flow`."""

from .filters import FILTERS, FilterSpec, FilterSpecError, parse_filter_specs
from .flow import Settings, build_flow
from .inputs import InputError, find_images
from .report import Report

__all__ = [
    "FILTERS",
    "FilterSpec",
    "FilterSpecError",
    "InputError",
    "Report",
    "Settings",
    "build_flow",
    "find_images",
    "parse_filter_specs",
]
