"""把不受 pyplot 管理的 Figure 渲染成 PNG 字节，给 ``ipywidgets.Image`` 用。"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg


class BlitRenderer:
    """背景（等高线）只画一次并缓存，之后每次只重画前景图元再编码 PNG。"""

    def __init__(self, fig):
        self.fig = fig
        self.canvas = FigureCanvasAgg(fig)
        self.background = None

    def invalidate(self) -> None:
        self.background = None

    def render(self, foreground) -> bytes:
        if self.background is None:
            for a in foreground:
                a.set_visible(False)
            self.canvas.draw()
            self.background = self.canvas.copy_from_bbox(self.fig.bbox)
            for a in foreground:
                a.set_visible(True)
        self.canvas.restore_region(self.background)
        for a in foreground:
            self.fig.draw_artist(a)
        return png_bytes(self.canvas)


def png_bytes(canvas) -> bytes:
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    # 压缩级别 1：交互时编码速度比文件大小重要
    Image.fromarray(np.asarray(canvas.buffer_rgba())).save(buf, format="png", compress_level=1)
    return buf.getvalue()


def figure_png(fig) -> bytes:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return png_bytes(canvas)
