"""What the app asks of the phone: dial a number, open navigation, buzz for an alert.

On Android these are intents (pyjnius, imported only there): ``ACTION_DIAL`` with a
``tel:`` URI (opens the dialler with the number filled in; no CALL_PHONE permission
needed), and ``ACTION_VIEW`` with Amap's ``androidamap://``, Baidu's ``baidumap://`` or
the generic ``geo:`` URI, whichever app is installed first. Vibration and the
notification sound go through plyer and Android's RingtoneManager, best effort.

The phone's language for ``mobile.i18n`` is read here too (``android_language``), so
this module and ``services/location.py`` are the only ones touching Android APIs.

On a desktop the same calls hand a web map URL to ``webbrowser`` and report that a
phone call can't be made here. Tests pass an ``opener`` (a callable taking the URI and
returning whether it was handled) to see exactly which URIs the app produces.
"""

from __future__ import annotations

import re
import urllib.parse
import webbrowser
from collections.abc import Callable
from typing import Any

Opener = Callable[[str], bool]


def dial_uri(number: str) -> str:
    """``"+33 6 12-34"`` -> ``"tel:+33612-34"`` (keeps digits, +, *, #, -)."""
    return "tel:" + re.sub(r"[^0-9+*#-]", "", number)


def navigation_uris(latitude: float, longitude: float, label: str) -> list[str]:
    """Map apps to try on Android, in order: Amap, Baidu, then any ``geo:`` handler.

    The coordinates are the server's (WGS-84). Amap is told so (``dev=1``), Baidu too
    (``coord_type=wgs84``), so both convert to their own grids.
    """
    name = urllib.parse.quote(label)
    return [
        f"androidamap://viewMap?sourceApplication=fixroute&poiname={name}&lat={latitude}&lon={longitude}&dev=1",
        f"baidumap://map/marker?location={latitude},{longitude}&title={name}&coord_type=wgs84&src=fixroute",
        f"geo:{latitude},{longitude}?q={latitude},{longitude}({name})",
    ]


def web_map_url(latitude: float, longitude: float) -> str:
    """Desktop: OpenStreetMap centred on the job with a marker."""
    return f"https://www.openstreetmap.org/?mlat={latitude}&mlon={longitude}#map=17/{latitude}/{longitude}"


class PlatformActions:
    def __init__(self, platform: str, *, opener: Opener | None = None) -> None:
        self.platform = platform
        self._opener = opener
        self.opened: list[str] = []  # every URI handled, for the record (and tests)

    def dial(self, number: str) -> bool:
        """Open the dialler with ``number``; False when this device can't call."""
        uri = dial_uri(number)
        if self._opener is not None:
            return self._record(uri, self._opener(uri))
        if self.platform == "android":
            return self._record(uri, _android_intent("android.intent.action.DIAL", uri))
        return False

    def navigate(self, latitude: float, longitude: float, label: str) -> bool:
        uris = navigation_uris(latitude, longitude, label)
        if self._opener is not None:
            return any(self._record(uri, self._opener(uri)) for uri in uris)
        if self.platform == "android":
            return any(self._record(uri, _android_intent("android.intent.action.VIEW", uri)) for uri in uris)
        url = web_map_url(latitude, longitude)
        return self._record(url, _open_browser(url))

    def alert(self) -> None:
        """Buzz and ping for a new or changed job (Android; nothing on a desktop)."""
        if self.platform != "android":
            return
        try:
            from plyer import vibrator  # android only

            vibrator.vibrate(0.6)
        except Exception:  # no vibrator or no permission: the banner still shows
            pass
        try:
            from jnius import autoclass  # android only

            manager = autoclass("android.media.RingtoneManager")
            activity = autoclass("org.kivy.android.PythonActivity").mActivity
            uri = manager.getDefaultUri(manager.TYPE_NOTIFICATION)
            manager.getRingtone(activity, uri).play()
        except Exception:  # best effort: some phones have no default sound
            pass

    def take_picture(self, target: str, on_done: Callable[[str], Any]) -> bool:
        """Android: open the camera, which writes the photo to ``target``; ``on_done(path)``
        is called from the camera's thread. Best effort, untested on a device. False when
        there is no camera here (desktop: the finish form uses a file chooser)."""
        if self.platform != "android":
            return False
        try:
            from plyer import camera  # android only

            camera.take_picture(filename=target, on_complete=lambda path: on_done(path or target))
        except Exception:
            return False
        return True

    def _record(self, uri: str, handled: bool) -> bool:
        if handled:
            self.opened.append(uri)
        return handled


def _open_browser(url: str) -> bool:
    try:
        return bool(webbrowser.open(url))
    except Exception:
        return False


def _android_intent(action: str, uri: str) -> bool:
    """Start an activity for ``uri``; False when no installed app handles it.

    It asks by starting the activity (ActivityNotFoundException: no such app) rather than with
    resolveActivity, which on Android 11+ sees only apps declared in the manifest's <queries>."""
    try:
        from jnius import autoclass  # android only

        intent_class: Any = autoclass("android.content.Intent")
        uri_class: Any = autoclass("android.net.Uri")
        activity = autoclass("org.kivy.android.PythonActivity").mActivity
        intent = intent_class(action, uri_class.parse(uri))
        intent.addFlags(intent_class.FLAG_ACTIVITY_NEW_TASK)
        activity.startActivity(intent)
        return True
    except Exception:  # jnius raises JavaException for ActivityNotFoundException
        return False


def android_language() -> str:
    """The phone's ``language-COUNTRY`` (``zh-CN``) from java.util.Locale; '' off Android."""
    try:
        from jnius import autoclass  # android only

        java_locale = autoclass("java.util.Locale").getDefault()
        return f"{java_locale.getLanguage()}-{java_locale.getCountry()}"
    except Exception:  # no pyjnius or no JVM
        return ""
