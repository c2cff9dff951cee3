"""The ready apps: `python -m apps.translate` (pf-translate) and `python -m apps.image_filters` (pf-image-filters)."""

from apps.installation import check_installation

check_installation()
