from django.urls import path

from server.tracking import views

app_name = "tracking"

urlpatterns = [
    path("<str:token>/", views.tracking_page, name="page"),
    path("<str:token>/eta/", views.tracking_eta, name="eta"),
    path("<str:token>/confirm/", views.tracking_confirm, name="confirm"),
    path("<str:token>/slots/", views.tracking_slots, name="slots"),
    path("<str:token>/reschedule/", views.tracking_reschedule, name="reschedule"),
    path("<str:token>/cancel/", views.tracking_cancel, name="cancel"),
]
