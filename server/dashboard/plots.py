"""The score histogram as an inline SVG built from numbers only (every label escaped); no script, no style."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP = 560, 220, 40, 36, 12


def histogram_svg(bins: list[int], max_score: float, label: str) -> Markup:
    """Bars for score bins of equal width from 0 to `max_score`; the figure is described for screen readers."""
    peak = max(bins) if bins and max(bins) > 0 else 1
    plot_w, plot_h = WIDTH - MARGIN_LEFT - 10, HEIGHT - MARGIN_BOTTOM - MARGIN_TOP
    bar_w = plot_w / max(len(bins), 1)
    step = max_score / max(len(bins), 1)
    parts = [f'<svg class="histogram" role="img" aria-label="{escape(label)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(label)}</title>",
             f'<line x1="{MARGIN_LEFT}" y1="{MARGIN_TOP + plot_h}" x2="{WIDTH - 10}" y2="{MARGIN_TOP + plot_h}" '
             'stroke="#444"/>',
             f'<text x="4" y="{MARGIN_TOP + 10}" font-size="11" fill="#444">{peak}</text>']
    for i, count in enumerate(bins):
        height = plot_h * count / peak
        x = MARGIN_LEFT + i * bar_w
        low, high = i * step, (i + 1) * step
        parts.append(f'<rect x="{x + 2:.1f}" y="{MARGIN_TOP + plot_h - height:.1f}" width="{bar_w - 4:.1f}" '
                     f'height="{height:.1f}" fill="#3a6ea5"><title>{low:g}-{high:g}: {count}</title></rect>')
        if count:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{MARGIN_TOP + plot_h - height - 3:.1f}" font-size="11" '
                         f'text-anchor="middle" fill="#222">{count}</text>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" font-size="10" '
                     f'text-anchor="middle" fill="#444">{low:g}-{high:g}</text>')
    parts.append(f'<text x="{MARGIN_LEFT + plot_w / 2:.1f}" y="{HEIGHT - 4}" font-size="11" text-anchor="middle" '
                 'fill="#444">score</text></svg>')
    return Markup("".join(parts))  # noqa: S704 - built only from numbers and escaped labels
