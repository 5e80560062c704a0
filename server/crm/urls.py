from django.urls import path

from server.crm import views

app_name = "crm"

# Pages of this app in the staff console (templates extend "console/base.html").
urlpatterns = [
    path("reminders/", views.reminders_list, name="reminders"),
    path("reminders/<int:reminder_id>/order/", views.reminder_order, name="reminder_order"),
    path("dormant/", views.dormant_list, name="dormant"),
    path("exports/", views.exports_page, name="exports"),
    path("exports/<slug:table>.<slug:fmt>", views.export_download, name="export_download"),
    path("imports/", views.import_upload, name="imports"),
    path("imports/<int:job_id>/", views.import_job, name="import_job"),
    path("customers/<int:customer_id>/data/", views.customer_data, name="customer_data"),
    path("customers/<int:customer_id>/erase/", views.customer_erase, name="customer_erase"),
]
