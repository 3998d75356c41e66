"""Where a matplotlib figure's text lands once drawn: the texts that overlap one another and the
texts that leave the figure, each text taken as the rectangle it covers (rotated with the text),
so that slanted tick labels are judged by their real outline, not by their bounding box."""

from __future__ import annotations

from unittest import mock

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from annealbench_report.figures.style import Layout, matplotlib

TOLERANCE = 1.0  # pixels (at the figure's dpi) two outlines may share before they overlap


def drawn_texts(fig: Figure, layout: Layout) -> list[tuple[str, np.ndarray]]:
    """(text, its four corners in pixels) for every non-empty text the figure draws: a tick
    label outside the axis' view is made but never drawn, so only those ``Text.draw`` reached."""
    drawn: list[Text] = []
    original = Text.draw

    def record(self, renderer):
        drawn.append(self)
        return original(self, renderer)

    with matplotlib.rc_context(layout.style), mock.patch.object(Text, "draw", record):
        FigureCanvasAgg(fig)
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    with matplotlib.rc_context(layout.style):
        return [(t.get_text(), _corners(t, renderer)) for t in dict.fromkeys(drawn)
                if t.get_visible() and t.get_text().strip()]


def _corners(t: Text, renderer) -> np.ndarray:
    """A rotated rectangle's bounding box is centred on it: the centre of the drawn extent and
    the unrotated width and height give the four corners."""
    box = t.get_window_extent(renderer)
    angle = np.deg2rad(t.get_rotation())
    rotation = t.get_rotation()
    t.set_rotation(0)
    flat = t.get_window_extent(renderer)
    t.set_rotation(rotation)
    w, h = flat.width / 2, flat.height / 2
    c, s = np.cos(angle), np.sin(angle)
    local = np.array([[-w, -h], [w, -h], [w, h], [-w, h]])
    return local @ np.array([[c, s], [-s, c]]) + [(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2]


def _apart(a: np.ndarray, b: np.ndarray) -> bool:
    """Separating-axis test of two convex outlines, allowing TOLERANCE pixels of contact."""
    for poly in (a, b):
        for i in range(len(poly)):
            edge = poly[(i + 1) % len(poly)] - poly[i]
            normal = np.array([-edge[1], edge[0]])
            if not np.any(normal):
                continue
            normal = normal / np.hypot(*normal)
            pa, pb = a @ normal, b @ normal
            if min(pa.max(), pb.max()) - max(pa.min(), pb.min()) <= TOLERANCE:
                return True
    return False


def overlapping(fig: Figure, layout: Layout) -> list[tuple[str, str]]:
    """Every pair of drawn texts whose outlines overlap."""
    texts = drawn_texts(fig, layout)
    return [(ta, tb) for i, (ta, a) in enumerate(texts) for tb, b in texts[i + 1:] if not _apart(a, b)]


def outside(fig: Figure, layout: Layout) -> list[str]:
    """Every drawn text that leaves the figure, by more than TOLERANCE pixels."""
    w, h = fig.bbox.width, fig.bbox.height
    return [t for t, p in drawn_texts(fig, layout)
            if p[:, 0].min() < -TOLERANCE or p[:, 1].min() < -TOLERANCE
            or p[:, 0].max() > w + TOLERANCE or p[:, 1].max() > h + TOLERANCE]
