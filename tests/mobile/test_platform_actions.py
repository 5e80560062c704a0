"""Dial and navigation URIs (what an Android intent would get)."""

from __future__ import annotations

from mobile.platform_actions import PlatformActions, dial_uri, navigation_uris, web_map_url


def test_dial_uri_keeps_only_dialable_characters():
    assert dial_uri("+33 6 12 34 56 78") == "tel:+33612345678"
    assert dial_uri("(010) 8888-6666 转 12") == "tel:0108888-666612"


def test_navigation_tries_amap_then_baidu_then_geo():
    amap, baidu, geo = navigation_uris(39.9087, 116.3975, "王府井大街 1号")
    assert amap.startswith("androidamap://viewMap?")
    assert "lat=39.9087&lon=116.3975&dev=1" in amap
    assert baidu.startswith("baidumap://map/marker?location=39.9087,116.3975")
    assert "coord_type=wgs84" in baidu
    assert geo.startswith("geo:39.9087,116.3975?q=39.9087,116.3975(")
    assert "王" not in geo  # the label is URL-encoded


def test_opener_gets_the_first_uri_a_map_app_takes():
    tried: list[str] = []

    def opener(uri: str) -> bool:
        tried.append(uri)
        return uri.startswith(("geo:", "tel:"))  # neither Amap nor Baidu installed

    actions = PlatformActions("android", opener=opener)
    assert actions.navigate(48.85, 2.35, "Hôtel du Parc")
    assert [u.split(":")[0] for u in tried] == ["androidamap", "baidumap", "geo"]
    assert actions.opened == [tried[-1]]
    assert actions.dial("+33 6 12")
    assert actions.opened[-1] == "tel:+33612"


def test_desktop_cannot_dial_and_opens_a_web_map(monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    actions = PlatformActions("linux")
    assert not actions.dial("+33 6 12")
    assert actions.navigate(48.85, 2.35, "x")
    assert opened == [web_map_url(48.85, 2.35)]
    assert "openstreetmap.org/?mlat=48.85&mlon=2.35" in opened[0]
