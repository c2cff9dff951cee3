"""The contact sheet: PNG pages of a grid with a row per image (the original, then each filter's output), labelled.

Column labels run along the top, image names down the left; each thumbnail (made during the run, in sRGB,
over white) is centred in its square cell. At most ROWS_PER_PAGE rows per page, so thousands of images
give many pages a viewer can open, not one 275-megapixel PNG.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .render import THUMB_SIDE

BACKGROUND = (255, 255, 255)
INK = (30, 30, 30)
CELL = THUMB_SIDE
ROWS_PER_PAGE = 50


@dataclass(frozen=True)
class Layout:
    """Pixel geometry of a sheet with `rows` x `cols` cells, plus a header row and a label column."""

    rows: int
    cols: int
    cell: int = CELL
    pad: int = 8
    header: int = 28
    label_width: int = 140

    @property
    def size(self) -> tuple[int, int]:
        step = self.cell + self.pad
        return self.label_width + self.cols * step + self.pad, self.header + self.rows * step + self.pad

    def cell_box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of the cell for image `row`, column `col` (0 = the original)."""
        step = self.cell + self.pad
        left, top = self.label_width + self.pad + col * step, self.header + self.pad + row * step
        return left, top, left + self.cell, top + self.cell

    def placement(self, row: int, col: int, size: tuple[int, int]) -> tuple[int, int]:
        """Top-left corner where a thumbnail of `size` goes so it is centred in its cell."""
        left, top, _, _ = self.cell_box(row, col)
        return left + (self.cell - size[0]) // 2, top + (self.cell - size[1]) // 2


def page_path(first: Path, number: int) -> Path:
    """Page 1 is `first` (contact_sheet.png); page n is contact_sheet-n.png beside it."""
    return first if number == 1 else first.with_name(f"{first.stem}-{number}{first.suffix}")


def render(
    layout: Layout, columns: Sequence[str], rows: Sequence[tuple[str, Sequence[Image.Image | None]]]
) -> Image.Image:
    """Draw the sheet: `columns` are the column labels, each row is (label, one thumbnail or None per column)."""
    sheet = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=14)
    for col, text in enumerate(columns):
        left, _, right, _ = layout.cell_box(0, col)
        _draw_label(draw, font, text, (left + right) // 2, layout.header // 2 + layout.pad // 2, layout.cell)
    for row, (text, thumbs) in enumerate(rows):
        _, top, _, bottom = layout.cell_box(row, 0)
        centre = layout.label_width // 2 + layout.pad // 2
        _draw_label(draw, font, text, centre, (top + bottom) // 2, layout.label_width)
        for col, thumb in enumerate(thumbs):
            if thumb is not None:
                mask = thumb.getchannel("A") if thumb.mode == "RGBA" else None
                sheet.paste(thumb.convert("RGB"), layout.placement(row, col, thumb.size), mask)
    return sheet


def _draw_label(
    draw: ImageDraw.ImageDraw, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str, x: int, y: int, width: int
) -> None:
    """Centre `text` on (x, y), shortened with an ellipsis to fit `width`."""
    shown = text
    while len(shown) > 1 and draw.textlength(shown, font=font) > width - 4:
        shown = shown[:-2] + "…"
    draw.text((x, y), shown, fill=INK, font=font, anchor="mm")
