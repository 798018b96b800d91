"""Outputs shown once in a notebook and then replaced in place.

::

    chart = show_figure(fig)                 # one output in this cell
    show_figure(newer_fig, chart)            # the same output, now newer_fig
    board = show_board(bot.board(), status="bot running")
    show_board(bot.board(), board, status="bot stopped")

Each output is a raw MIME bundle given a ``display_id`` and replaced with
``update(bundle, raw=True)``. That is what keeps a notebook run headless
(papermill, nbclient) at one output per chart holding the latest figure:
showing a Plotly figure object with ``display_id=True`` and updating it adds a
new output at every update, because the figure shows itself through its own
display hook, which publishes its bundle without the id.

A figure's bundle is Plotly's JSON (``application/vnd.plotly.v1+json``, drawn
by JupyterLab offline) with a small HTML fallback: by default the
title and what each trace holds, so a saved notebook stays small, carries no
script and reads the same on GitHub, where scripts do not run.
``fallback="cdn"`` puts Plotly's own HTML there instead (the chart drawn by a
script from Plotly's CDN, for an nbconvert HTML export viewed online): the
figure's data a second time, and a network fetch when viewed.

In JupyterLab a replaced Plotly output keeps showing its first figure: Plotly's
renderer does not redraw a model it already drew (the saved notebook holds the
latest all the same). ``show_figure(..., widget=True)`` shows a FigureWidget,
which redraws live but is not kept as a picture in a notebook run headless.

Outside IPython nothing is shown; a :class:`Shown` still keeps its latest
bundle, which is what tests read.
"""

from __future__ import annotations

import contextvars
import html
import itertools
import json
import uuid
from typing import Any, Literal

import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]

PLOTLY_MIME = "application/vnd.plotly.v1+json"
Fallback = Literal["summary", "cdn"]
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
_numbers = itertools.count(1)  # names of outputs: steady, in the order shown


class Shown:
    """One output of the notebook: shown once, then replaced in place.

    With a ``widget`` (a FigureWidget), the widget is what is shown and
    :meth:`update` redraws it; ``bundle`` is kept for reading all the same.
    """

    def __init__(
        self, bundle: dict[str, Any], *, name: str = "", widget: Any = None
    ) -> None:
        self.display_id = uuid.uuid4().hex
        self.name = name or _next_name()  # steady, unlike the display id
        self.bundle = bundle
        self.widget = widget
        self._handle: Any = None
        if _shell() is not None:
            from IPython.display import display  # noqa: PLC0415

            shown, raw = (bundle, True) if widget is None else (widget, False)
            self._handle = display(  # type: ignore[no-untyped-call]
                shown, raw=raw, display_id=self.display_id
            )

    @property
    def attached(self) -> bool:
        """True when the output went to an IPython front end."""
        return self._handle is not None

    def update(self, bundle: dict[str, Any], figure: go.Figure | None = None) -> None:
        """Replace the output's content with ``bundle`` (a widget's with
        ``figure``)."""
        self.bundle = bundle
        if self.widget is not None:
            if figure is not None:
                _redraw(self.widget, figure)
        elif self._handle is not None:
            # In an empty context the kernel sends the update as output of the
            # cell running now; from a task that an earlier cell started it
            # would be that cell's, which papermill no longer listens to.
            contextvars.Context().run(self._handle.update, bundle, raw=True)

    def __repr__(self) -> str:
        kinds = ", ".join(sorted(self.bundle))
        return f"Shown({self.name}: {kinds})"


def show_bundle(bundle: dict[str, Any], handle: Shown | None = None) -> Shown:
    """Show ``bundle`` as a new output, or replace ``handle``'s with it."""
    if handle is None:
        return Shown(bundle)
    handle.update(bundle)
    return handle


def show_figure(
    fig: go.Figure,
    handle: Shown | None = None,
    *,
    fallback: Fallback = "summary",
    widget: bool = False,
) -> Shown:
    """Show a Plotly figure (see the module), or replace ``handle``'s.

    ``widget`` shows a FigureWidget instead: it redraws live in JupyterLab,
    where Plotly's renderer keeps drawing the first figure of a replaced
    output, but a notebook run headless keeps no picture of it.
    """
    name = _next_name() if handle is None else handle.name
    bundle = figure_bundle(fig, fallback=fallback, div_id=name)
    if handle is None:
        shown = go.FigureWidget(fig) if widget else None
        return Shown(bundle, name=name, widget=shown)
    handle.update(bundle, fig)
    return handle


def show_board(board: str, handle: Shown | None = None, *, status: str = "") -> Shown:
    """Show the status board's text (and a status line above it)."""
    return show_bundle(board_bundle(board, status=status), handle)


def figure_bundle(
    fig: go.Figure, *, fallback: Fallback = "summary", div_id: str | None = None
) -> dict[str, Any]:
    """The MIME bundle of ``fig``: Plotly JSON, HTML and plain text, JSON only."""
    spec = json.loads(pio.to_json(fig, validate=False))
    spec["config"] = dict(PLOT_CONFIG)
    summary = figure_summary(fig)
    if fallback == "cdn":
        page = pio.to_html(
            fig,
            include_plotlyjs="cdn",
            full_html=False,
            div_id=div_id,
            config=PLOT_CONFIG,
            validate=False,
        )
    else:
        lines = summary.split("\n")
        body = "<br>".join(html.escape(line) for line in lines[1:])
        page = f"<div class='kit-chart'><b>{html.escape(lines[0])}</b><br>{body}</div>"
    return {PLOTLY_MIME: spec, "text/html": page, "text/plain": summary}


def figure_summary(fig: go.Figure) -> str:
    """The title, then each trace's name and point count, and the time span."""
    title = fig.layout.title.text or "Chart"
    lines, first, last = [str(title)], None, None
    for trace in fig.data:
        xs = list(trace.x) if trace.x is not None else []
        if not xs:
            continue
        lines.append(f"{trace.name or trace.type}: {len(xs)} points")
        first = min(str(xs[0]), first or str(xs[0]))
        last = max(str(xs[-1]), last or str(xs[-1]))
    if first is None:
        texts = [a.text for a in fig.layout.annotations if a.text]
        lines.append(texts[-1] if texts else "no data")
    else:
        lines.append(f"from {first} to {last}")
    return "\n".join(lines)


def board_bundle(board: str, *, status: str = "") -> dict[str, Any]:
    """The board as ``<pre class="kit-board">`` below a status line, escaped."""
    line = f"<div class='kit-status'>{html.escape(status)}</div>" if status else ""
    page = f"{line}<pre class='kit-board'>{html.escape(board)}</pre>"
    text = f"{status}\n{board}" if status else board
    return {"text/html": page, "text/plain": text}


def _redraw(widget: Any, fig: go.Figure) -> None:
    """Make a FigureWidget draw ``fig``: its traces and layout replaced.

    Assigning a layout sends only the keys the new one has, so a list the new
    figure lacks (the "No candles yet" note) is emptied by hand first."""
    with widget.batch_update():
        widget.data = ()
        widget.add_traces(list(fig.data))
        widget.layout.annotations = fig.layout.annotations or ()
        widget.layout.shapes = fig.layout.shapes or ()
        widget.layout = fig.layout


def _next_name() -> str:
    return f"kit-output-{next(_numbers)}"


def _shell() -> Any:
    """The running IPython shell, or None (plain Python, a test)."""
    try:
        from IPython import get_ipython  # noqa: PLC0415
    except ImportError:
        return None
    return get_ipython()
