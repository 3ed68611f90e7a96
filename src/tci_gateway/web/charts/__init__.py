"""Charts drawn on the server as inline SVG: no script, no CDN, readable without colour
(every series also has a text label and the figures are in a table beside the chart)."""
