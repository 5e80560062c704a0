"""``Section``: a card that can be hidden (height 0, invisible, deaf to touches).

Setting a box's height to 0 does not stop its children from being drawn over, and
touched through, the widgets around it; a hidden Section passes every touch on.
"""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty
from kivy.uix.boxlayout import BoxLayout


class Section(BoxLayout):
    shown = BooleanProperty(True)

    def on_touch_down(self, touch: Any) -> bool:
        return bool(self.shown and super().on_touch_down(touch))

    def on_touch_move(self, touch: Any) -> bool:
        return bool(self.shown and super().on_touch_move(touch))

    def on_touch_up(self, touch: Any) -> bool:
        return bool(self.shown and super().on_touch_up(touch))
