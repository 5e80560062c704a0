from django.contrib import admin
from django.urls import include, path

from server.common.views import healthz
from server.config.api import api
from server.intake import views as intake_views

admin.site.site_header = "Fixroute"
admin.site.site_title = "Fixroute"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/", api.urls),
    path("webhooks/twilio/voice", intake_views.twilio_voice, name="twilio_voice"),
    path("webhooks/cti/call", intake_views.cti_call, name="cti_call"),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the console's language switch
    path("care/", include("server.care.urls")),
    path("crm/", include("server.crm.urls")),
    path("t/", include("server.tracking.urls")),  # the customer's tracking page (short links in texts)
    path("webhooks/", include("notifications.urls")),  # SMS delivery reports and replies
    # The staff console at the root: GET / is its home (after login); administrators keep /admin/.
    path("", include("server.console.urls", namespace="console")),
]
