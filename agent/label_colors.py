"""The core labels' colours, shared by the tray icon and the day timeline so a colour the user
learns from the tray means the same on the page (a taxonomy's colours replace them when set)."""

from __future__ import annotations

LABEL_COLORS: dict[str, str] = {
    "Build": "#2E7D32",
    "Debug": "#C62828",
    "Review": "#6A1B9A",
    "Write": "#1565C0",
    "ReadResearch": "#00838F",
    "Communicate": "#EF6C00",
    "Meet": "#AD1457",
    "BreakIdle": "#8D6E63",
}
