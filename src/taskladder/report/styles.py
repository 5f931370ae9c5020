"""The HTML report's stylesheet, inlined into every report (no external fonts or files).

System fonts, a 1200 px column that reflows down to phone width, figure grids that put three
panels to a row at laptop width, tables that scroll sideways inside their box rather than widen
the page, and tabular digits so numbers line up. Badges wrap rather than run out of their card.
On a phone (700 px and narrower) the predictions and fit tables reflow into one card per row,
each value beside its column's name (the cells' ``data-label``), so no column hides off-screen.
"""

from __future__ import annotations

__all__ = ["REPORT_CSS"]

REPORT_CSS = """
:root { --fg: #1f2328; --muted: #5b6470; --line: #dfe3e8; --bg: #f5f6f8; --card: #ffffff;
        --accent: #2f5d8a; --good: #1a7f37; --good-bg: #dafbe1; --warn: #8a5a00; --warn-bg: #fff3c4;
        --bad: #b42318; --bad-bg: #ffe4e0; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.5; font-size: 15px;
       font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans",
                    "DejaVu Sans", sans-serif; }
header { background: var(--card); border-bottom: 1px solid var(--line); padding: 22px 0 10px; }
header > * , main, footer { max-width: 1200px; margin-left: auto; margin-right: auto;
                            padding-left: 24px; padding-right: 24px; }
h1 { font-size: 26px; margin: 0 auto 4px; letter-spacing: -0.01em; }
h2 { font-size: 21px; margin: 34px 0 12px; padding-bottom: 6px; border-bottom: 2px solid var(--line); }
h3 { font-size: 17px; margin: 18px 0 10px; }
.lead { font-size: 16px; margin-top: 0; margin-bottom: 4px; }
.sub, .muted, .note, figcaption, footer { color: var(--muted); }
.sub { margin: 0 auto 10px; font-size: 14px; }
h3 .muted { font-weight: normal; font-size: 13.5px; margin-left: 6px; }
.note { font-size: 13.5px; margin: 8px 0; }
nav.toc, nav.task-nav { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 14px; }
nav.task-nav { margin-bottom: 10px; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
            font-size: 12.5px; }
pre { background: #f0f2f5; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
      max-height: 480px; overflow: auto; }
details summary { cursor: pointer; margin: 12px 0 6px; color: var(--accent); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 6px 20px 16px;
        margin: 16px 0; box-shadow: 0 1px 2px rgba(31, 35, 40, 0.04); }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(290px, 1fr)); gap: 14px; margin-top: 12px; }
.figures.two { grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); }
figure { margin: 0; min-width: 0; }
figure img { display: block; width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px;
             background: #fff; }
figure.wide { max-width: 880px; }
figcaption { font-size: 13px; margin-top: 5px; line-height: 1.4; }
.table-wrap { overflow-x: auto; max-width: 100%; margin: 6px 0; }
table { border-collapse: collapse; font-size: 13.5px; font-variant-numeric: tabular-nums; background: var(--card); }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: #eef1f4; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; white-space: nowrap; }
tfoot td { border-top: 2px solid var(--line); font-weight: 600; }
table.facts td:first-child { white-space: nowrap; }
table.predictions th { white-space: normal; }
table.fits td:nth-child(2) { white-space: nowrap; }
table.fits td:nth-child(3) { min-width: 250px; }
table.fits td:nth-child(3) code { white-space: normal; }
table.fits td:nth-child(4) { white-space: nowrap; font-size: 12.5px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12.5px; white-space: normal;
         overflow-wrap: break-word; max-width: 100%; margin: 1px 2px 1px 0; }
.nowrap { white-space: nowrap; }
.reason { font-size: 12px; color: var(--muted); min-width: 150px; max-width: 220px; white-space: normal; margin-top: 2px; }
.badge.good { color: var(--good); background: var(--good-bg); }
.badge.warn { color: var(--warn); background: var(--warn-bg); }
.badge.bad { color: var(--bad); background: var(--bad-bg); }
.badge.neutral { color: var(--muted); background: #eef1f4; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 6px;
          vertical-align: -1px; border: 1px solid rgba(0, 0, 0, 0.25); }
.legend { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 4px; font-size: 13.5px; margin: 8px 0; }
.legend-title { font-weight: 600; margin-right: 8px; }
.swatch-label { margin-right: 12px; }
.markers { margin-left: 8px; color: var(--muted); }
.marker { color: var(--fg); margin: 0 2px 0 8px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(250px, 1fr)); gap: 14px; margin-bottom: 16px; }
.kpi { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; }
.kpi-name { font-weight: 600; font-size: 16px; }
.kpi-value { font-size: 30px; font-weight: 600; line-height: 1.2; margin-top: 4px; }
.kpi-unit { font-size: 15px; font-weight: normal; color: var(--muted); }
.kpi-sub { font-size: 13px; color: var(--muted); }
footer { font-size: 13px; padding-top: 28px; padding-bottom: 28px; }
@media (max-width: 700px) {
  header > *, main, footer { padding-left: 12px; padding-right: 12px; }
  .card { padding: 4px 12px 12px; }
  .figures.two { grid-template-columns: 1fr; }
  table.predictions, table.fits { background: transparent; }
  table.predictions thead, table.fits thead { display: none; }
  table.predictions, table.predictions tbody, table.predictions tr, table.predictions td,
  table.fits, table.fits tbody, table.fits tr, table.fits td { display: block; width: 100%; }
  table.predictions tr, table.fits tr { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
                                        margin: 8px 0; padding: 4px 10px; }
  table.predictions td, table.fits td { padding: 5px 0; text-align: right; white-space: normal; min-width: 0;
                                        max-width: none; overflow: hidden; }
  table.predictions td:last-child, table.fits td:last-child { border-bottom: none; }
  table.predictions td::before, table.fits td::before { content: attr(data-label); float: left; margin-right: 12px;
                                                        font-weight: 600; color: var(--muted); text-align: left; }
  table.fits td:nth-child(3) { min-width: 0; }
  .reason { max-width: none; min-width: 0; clear: left; }
}
"""
