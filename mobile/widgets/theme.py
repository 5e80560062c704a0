"""Colours (RGBA, 0..1) shared by the kv files."""

PRIMARY = (0.08, 0.40, 0.75, 1)  # #1565C0
PRIMARY_DARK = (0.05, 0.28, 0.55, 1)
BACKGROUND = (0.95, 0.96, 0.97, 1)  # #F2F4F7
CARD = (1, 1, 1, 1)
TEXT = (0.12, 0.16, 0.20, 1)  # #1F2933
MUTED = (0.38, 0.43, 0.49, 1)  # #616E7C
DISABLED = (0.80, 0.82, 0.85, 1)
DANGER = (0.78, 0.16, 0.16, 1)  # #C62828
DANGER_BG = (0.99, 0.91, 0.91, 1)
WARNING_BG = (1.0, 0.95, 0.78, 1)
WARNING_TEXT = (0.45, 0.30, 0.0, 1)
WHITE = (1, 1, 1, 1)
ALERT_BG = (0.85, 0.33, 0.0, 1)  # #D95400: a new or changed job
COMPLAINT = (0.56, 0.14, 0.67, 1)
URGENT = (0.78, 0.16, 0.16, 1)
HIGH = (0.90, 0.45, 0.0, 1)

STATUS_COLORS = {
    "new": (0.47, 0.53, 0.60, 1),
    "scheduled": (0.12, 0.53, 0.90, 1),  # blue
    "en_route": (0.93, 0.55, 0.0, 1),  # amber
    "on_site": (0.56, 0.14, 0.67, 1),  # purple
    "on_hold": (0.47, 0.53, 0.60, 1),
    "completed": (0.18, 0.49, 0.20, 1),  # green
    "cancelled": (0.62, 0.62, 0.62, 1),
}


def status_color(status: str) -> tuple[float, float, float, float]:
    return STATUS_COLORS.get(status, (0.47, 0.53, 0.60, 1))
