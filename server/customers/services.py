"""Customer and site writes."""

from __future__ import annotations

import math

from server.common.exceptions import ValidationFailed
from server.customers.geocoding import GeocodeResult, address_geocode
from server.customers.models import Customer, LocationSource, Site


def _coordinates(*, latitude: float | None, longitude: float | None) -> tuple[float, float] | None:
    """Typed coordinates checked, or None when neither was given."""
    if latitude is None and longitude is None:
        return None
    if latitude is None or longitude is None:
        raise ValidationFailed(
            "Give both latitude and longitude, or neither", extra={"latitude": latitude, "longitude": longitude}
        )
    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError) as error:
        raise ValidationFailed(
            "Latitude and longitude must be numbers", extra={"latitude": str(latitude), "longitude": str(longitude)}
        ) from error
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise ValidationFailed(
            f"Latitude {latitude} is out of range: it must be between -90 and 90", extra={"latitude": str(latitude)}
        )
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise ValidationFailed(
            f"Longitude {longitude} is out of range: it must be between -180 and 180",
            extra={"longitude": str(longitude)},
        )
    return lat, lon


def _locate(
    site: Site,
    *,
    latitude: float | None,
    longitude: float | None,
    geocode: bool,
    geocoded: GeocodeResult | None = None,
) -> None:
    """Set the site's coordinates, where they came from, and the review flag (no save)."""
    typed = _coordinates(latitude=latitude, longitude=longitude)
    if typed is not None:
        (site.latitude, site.longitude), site.location_source = typed, LocationSource.TYPED
    else:
        found = geocoded or (address_geocode(site.address) if geocode else None)
        if found is not None:
            site.latitude, site.longitude = found.latitude, found.longitude
            site.location_source = LocationSource.GEOCODED
        else:
            site.latitude = site.longitude = None
            site.location_source = LocationSource.NONE
    site.needs_review = not site.has_location


def site_create(
    *,
    customer: Customer,
    address: str,
    latitude: float | None = None,
    longitude: float | None = None,
    access_notes: str = "",
    is_primary: bool | None = None,
    geocode: bool = True,
    geocoded: GeocodeResult | None = None,
) -> Site:
    """Add a site to ``customer``; typed coordinates win, else the address is geocoded.

    Coordinates out of range, or only one of the two, raise ``ValidationFailed``. A site left
    without coordinates (geocoding off, failed or found nothing) is saved with
    ``location_source = "none"`` and ``needs_review``: it cannot be dispatched until staff add
    them, so the caller flags its orders for review. Geocoding asks a remote service (at most
    ``GEOCODER_TIMEOUT_SECONDS``; cached) and never raises. ``is_primary`` defaults to "the
    customer's first site". A caller that asked the geocoder already (outside its transaction)
    passes the answer as ``geocoded`` and ``geocode=False``.
    """
    address = " ".join(address.split())
    if not address:
        raise ValidationFailed("The site needs an address")
    site = Site(
        customer=customer,
        address=address,
        access_notes=access_notes.strip(),
        is_primary=not customer.sites.exists() if is_primary is None else is_primary,
    )
    _locate(site, latitude=latitude, longitude=longitude, geocode=geocode, geocoded=geocoded)
    # The coordinates were range-checked above (the constraints would ask the database again).
    site.full_clean(exclude=["customer"], validate_constraints=False)
    site.save()
    return site


def site_location_set(
    *,
    site: Site,
    latitude: float | None,
    longitude: float | None,
    geocode: bool = False,
) -> Site:
    """Give ``site`` these coordinates (typed), or none; with ``geocode`` and none typed, the
    address is geocoded. Keeps ``location_source`` and ``needs_review`` in step (see
    :func:`site_create`)."""
    _locate(site, latitude=latitude, longitude=longitude, geocode=geocode)
    site.save(update_fields=["latitude", "longitude", "location_source", "needs_review", "updated_at"])
    return site
