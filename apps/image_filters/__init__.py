"""Many images x many filters on every core: `python -m apps.image_filters`, or reuse `build_flow`."""

from .filters import FILTERS, FilterSpec, FilterSpecError, parse_filter_specs
from .flow import Settings, build_flow
from .inputs import InputError, find_images, scan_inputs
from .render import OutputOptions, apply_filter, filter_and_save, load_source, render_image, save_output
from .report import Report

__all__ = [
    "FILTERS",
    "FilterSpec",
    "FilterSpecError",
    "InputError",
    "OutputOptions",
    "Report",
    "Settings",
    "apply_filter",
    "build_flow",
    "filter_and_save",
    "find_images",
    "load_source",
    "parse_filter_specs",
    "render_image",
    "save_output",
    "scan_inputs",
]
