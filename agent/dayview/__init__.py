"""The day timeline: a self-contained HTML page and a PNG of the same picture."""
